//! Translates the polars plans of an audit into SQL, so that another engine
//! (DataFusion, Ballista) produces the same aggregate tables from the same
//! plans: the rule kinds build their plans once, and this module reads them.
//!
//! Every plan node becomes one `SELECT` over its input's query, with its
//! output columns named and ordered as polars names and orders them (the
//! schema comes from polars itself). Expressions follow polars' semantics,
//! not SQL's where they differ: a sum over no values is 0, `n_unique`
//! counts null as a value, `any`/`all` ignore nulls, and `/` divides as
//! floats. A row-wise function written in Rust (label mapping, periods) is
//! lowered without running Rust on the engine: its input's distinct values
//! are fetched with one query ([`Env::distinct`]), mapped here by polars,
//! and sent back as a `CASE` over those values.
//!
//! What it cannot translate is an error naming the construct, never a
//! silently different result.

use std::fmt::Write as _;

use anyhow::{anyhow, bail, Context as _};
use polars::prelude::*;
use polars_plan::plans::DslFunction;

/// What the translator needs from the engine it writes for.
pub trait Env {
    /// The SQL name of the table for the Parquet file at `path`.
    fn table(&mut self, path: &str) -> anyhow::Result<String>;
    /// The distinct values of a query's only column, as a series of `dtype`.
    fn distinct(&mut self, query: &str, dtype: &DataType) -> anyhow::Result<Series>;
}

/// The most distinct values a row-wise Rust function is lowered for: its
/// mapping travels as SQL text.
pub const MAX_MAPPED: usize = 20_000;

/// The SQL of `plan`, whose result has `plan`'s polars schema.
pub fn query(plan: &LazyFrame, env: &mut dyn Env) -> anyhow::Result<String> {
    Translator { env, next: 0 }.plan(&plan.logical_plan)
}

struct Translator<'e> {
    env: &'e mut dyn Env,
    next: usize,
}

/// The input a node's expressions are evaluated over.
struct Scope<'p> {
    /// The input's query.
    sql: String,
    /// The input's plan (for the types of expressions over it).
    plan: &'p DslPlan,
}

/// `"name"`, quoted for SQL.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'`, quoted for SQL.
pub fn string(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn schema_of(plan: &DslPlan) -> anyhow::Result<SchemaRef> {
    LazyFrame::from(plan.clone()).collect_schema().map_err(anyhow::Error::from).context("resolving a plan's schema")
}

/// The polars type of `e` evaluated row-wise over `plan`.
fn dtype_of(e: &Expr, plan: &DslPlan) -> anyhow::Result<DataType> {
    let schema = LazyFrame::from(plan.clone())
        .select([e.clone().alias("__t")])
        .collect_schema()
        .map_err(anyhow::Error::from)
        .with_context(|| format!("resolving the type of {e:?}"))?;
    Ok(schema.get("__t").cloned().unwrap_or(DataType::Null))
}

/// The SQL type a polars type is cast to.
fn sql_type(dtype: &DataType) -> anyhow::Result<&'static str> {
    Ok(match dtype {
        DataType::Boolean => "BOOLEAN",
        DataType::Int8 => "TINYINT",
        DataType::Int16 => "SMALLINT",
        DataType::Int32 => "INT",
        DataType::Int64 => "BIGINT",
        DataType::UInt8 => "TINYINT UNSIGNED",
        DataType::UInt16 => "SMALLINT UNSIGNED",
        DataType::UInt32 => "INT UNSIGNED",
        DataType::UInt64 => "BIGINT UNSIGNED",
        DataType::Float32 => "FLOAT",
        DataType::Float64 => "DOUBLE",
        DataType::String => "VARCHAR",
        DataType::Date => "DATE",
        other => bail!("no SQL type for {other}"),
    })
}

/// A polars value as an SQL literal.
fn value(v: &AnyValue) -> anyhow::Result<String> {
    Ok(match v {
        AnyValue::Null => "NULL".into(),
        AnyValue::Boolean(b) => if *b { "TRUE" } else { "FALSE" }.into(),
        AnyValue::String(s) => string(s),
        AnyValue::StringOwned(s) => string(s),
        AnyValue::Int8(x) => x.to_string(),
        AnyValue::Int16(x) => x.to_string(),
        AnyValue::Int32(x) => x.to_string(),
        AnyValue::Int64(x) => x.to_string(),
        AnyValue::UInt8(x) => x.to_string(),
        AnyValue::UInt16(x) => x.to_string(),
        AnyValue::UInt32(x) => x.to_string(),
        AnyValue::UInt64(x) => x.to_string(),
        AnyValue::Float32(x) => float(f64::from(*x)),
        AnyValue::Float64(x) => float(*x),
        other => bail!("no SQL literal for the value {other:?}"),
    })
}

/// A float literal that reads back as the same double.
fn float(x: f64) -> String {
    if x.is_finite() {
        // `{:?}` keeps every digit and a decimal point or exponent.
        format!("CAST({x:?} AS DOUBLE)")
    } else {
        let word = if x.is_nan() {
            "NaN"
        } else if x > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        };
        format!("CAST('{word}' AS DOUBLE)")
    }
}

/// A literal typed as polars types it.
fn literal(l: &LiteralValue) -> anyhow::Result<String> {
    if let LiteralValue::Series(s) = l {
        bail!("a literal list ({} values) outside `is_in`", s.len());
    }
    let dtype = l.get_datatype();
    let av = l.to_any_value().ok_or_else(|| anyhow!("an unsupported literal {l:?}"))?;
    let text = value(&av)?;
    Ok(match (&av, &dtype) {
        // A typed null keeps its type (a `CASE` needs it to unify its branches).
        (AnyValue::Null, DataType::Null | DataType::Unknown(_)) => text,
        (AnyValue::Null, t) => format!("CAST(NULL AS {})", sql_type(t)?),
        (_, DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::UInt8 | DataType::UInt16)
        | (_, DataType::UInt32 | DataType::UInt64) => format!("CAST({text} AS {})", sql_type(&dtype)?),
        _ => text,
    })
}

/// The expression an `alias`, `keep_name` or similar wraps.
fn unalias(e: &Expr) -> &Expr {
    match e {
        Expr::Alias(inner, _) | Expr::KeepName(inner) => unalias(inner),
        e => e,
    }
}

/// Whether `e` aggregates its input to one value per group.
fn aggregates(e: &Expr) -> bool {
    match unalias(e) {
        Expr::Agg(_) | Expr::Len => true,
        Expr::Function {
            function: FunctionExpr::Boolean(BooleanFunction::Any { .. } | BooleanFunction::All { .. }),
            ..
        }
        | Expr::Function { function: FunctionExpr::NullCount, .. } => true,
        Expr::Cast { expr, .. } => aggregates(expr),
        Expr::BinaryExpr { left, right, .. } => aggregates(left) || aggregates(right),
        Expr::Function { input, .. } => input.iter().any(aggregates),
        Expr::Ternary { predicate, truthy, falsy } => aggregates(predicate) || aggregates(truthy) || aggregates(falsy),
        _ => false,
    }
}

impl Translator<'_> {
    fn alias(&mut self) -> String {
        self.next += 1;
        format!("q{}", self.next)
    }

    /// `SELECT … FROM (input)` with the columns of `out` taken from `exprs`
    /// by name, or from the input when no expression names them.
    fn project(&mut self, input: &DslPlan, exprs: &[Expr], out: &Schema, tail: &str) -> anyhow::Result<String> {
        let scope = Scope { sql: self.plan(input)?, plan: input };
        let mut cols = Vec::new();
        for name in out.iter_names() {
            let def = exprs.iter().find(|e| (*e).clone().meta().output_name().ok().as_ref() == Some(name));
            let sql = match def {
                Some(e) => self.expr(e, &scope)?,
                None => ident(name),
            };
            cols.push(format!("{sql} AS {}", ident(name)));
        }
        let a = self.alias();
        Ok(format!("SELECT {} FROM ({}) AS {a}{tail}", cols.join(", "), scope.sql))
    }

    fn plan(&mut self, plan: &DslPlan) -> anyhow::Result<String> {
        match plan {
            // A plan polars has already resolved keeps the plan it was made from.
            DslPlan::Cache { input, .. } | DslPlan::IR { dsl: input, .. } => self.plan(input),
            DslPlan::Scan { sources, scan_type, unified_scan_args, .. } => {
                if !matches!(scan_type.as_ref(), FileScanDsl::Parquet { .. }) {
                    bail!("this engine reads Parquet only (write it with `hutong convert`)");
                }
                if unified_scan_args.row_index.is_some() || unified_scan_args.pre_slice.is_some() {
                    bail!("a Parquet scan with a row index or a slice");
                }
                let path = match sources.as_paths() {
                    Some([one]) => one.as_str().to_string(),
                    _ => bail!("a scan of several files in one node"),
                };
                let table = self.env.table(&path)?;
                let schema = schema_of(plan)?;
                let cols: Vec<String> = schema.iter_names().map(|n| ident(n)).collect();
                Ok(format!("SELECT {} FROM {table}", cols.join(", ")))
            }
            DslPlan::Filter { input, predicate } => {
                let scope = Scope { sql: self.plan(input)?, plan: input };
                let p = self.expr(predicate, &scope)?;
                let a = self.alias();
                Ok(format!("SELECT * FROM ({}) AS {a} WHERE {p}", scope.sql))
            }
            DslPlan::Select { expr, input, .. } => {
                let out = schema_of(plan)?;
                if expr.iter().any(aggregates) {
                    if !expr.iter().all(aggregates) {
                        bail!("a select mixing aggregates with row-wise columns");
                    }
                    return self.aggregate(input, &[], expr, &out);
                }
                self.project(input, expr, &out, "")
            }
            DslPlan::HStack { input, exprs, .. } => {
                let out = schema_of(plan)?;
                self.project(input, exprs, &out, "")
            }
            DslPlan::GroupBy { input, keys, aggs, predicates, apply, .. } => {
                if !predicates.is_empty() || apply.is_some() {
                    bail!("a group-by with a filter on its groups or a function over them");
                }
                let out = schema_of(plan)?;
                self.aggregate(input, keys, aggs, &out)
            }
            DslPlan::Union { inputs, .. } => {
                let out = schema_of(plan)?;
                let mut parts = Vec::new();
                for i in inputs {
                    let sql = self.plan(i)?;
                    let a = self.alias();
                    let cols: Vec<String> = out.iter_names().map(|n| ident(n)).collect();
                    parts.push(format!("SELECT {} FROM ({sql}) AS {a}", cols.join(", ")));
                }
                Ok(parts.join(" UNION ALL "))
            }
            DslPlan::Distinct { input, options } => {
                if options.subset.is_some() {
                    bail!("`unique` over a subset of the columns");
                }
                let sql = self.plan(input)?;
                let a = self.alias();
                Ok(format!("SELECT DISTINCT * FROM ({sql}) AS {a}"))
            }
            DslPlan::MapFunction { input, function } => match function {
                DslFunction::Rename { .. } => {
                    // A rename keeps the input's columns under new names.
                    let out = schema_of(plan)?;
                    let before = schema_of(input)?;
                    let sql = self.plan(input)?;
                    let a = self.alias();
                    let cols = renamed(function, &before, &out)?;
                    Ok(format!("SELECT {} FROM ({sql}) AS {a}", cols.join(", ")))
                }
                other => bail!("the plan step {other:?}"),
            },
            // No row is chosen by its position: only "none" is the same on every engine.
            DslPlan::Slice { input, offset: 0, len: 0 } => {
                let sql = self.plan(input)?;
                let a = self.alias();
                Ok(format!("SELECT * FROM ({sql}) AS {a} LIMIT 0"))
            }
            DslPlan::Sort { .. } | DslPlan::Slice { .. } => {
                bail!("sorting or slicing inside a plan (which rows it keeps would depend on the engine)")
            }
            other => bail!("the plan node {}", node_name(other)),
        }
    }

    /// `SELECT keys, aggs FROM (input) GROUP BY keys`, columns as `out`.
    fn aggregate(&mut self, input: &DslPlan, keys: &[Expr], aggs: &[Expr], out: &Schema) -> anyhow::Result<String> {
        let scope = Scope { sql: self.plan(input)?, plan: input };
        let mut by = Vec::new();
        let mut named: Vec<(PlSmallStr, String)> = Vec::new();
        for k in keys {
            let name = k.clone().meta().output_name()?;
            let sql = self.expr(k, &scope)?;
            by.push(sql.clone());
            named.push((name, sql));
        }
        for e in aggs {
            let name = e.clone().meta().output_name()?;
            named.push((name, self.agg(e, &scope)?));
        }
        let mut cols = Vec::new();
        for name in out.iter_names() {
            let (_, sql) = named
                .iter()
                .find(|(n, _)| n == name)
                .ok_or_else(|| anyhow!("the aggregate column `{name}` has no expression"))?;
            cols.push(format!("{sql} AS {}", ident(name)));
        }
        let a = self.alias();
        let group = if by.is_empty() { String::new() } else { format!(" GROUP BY {}", by.join(", ")) };
        Ok(format!("SELECT {} FROM ({}) AS {a}{group}", cols.join(", "), scope.sql))
    }

    /// An expression evaluated once per group.
    fn agg(&mut self, e: &Expr, s: &Scope) -> anyhow::Result<String> {
        Ok(match e {
            Expr::Alias(inner, _) | Expr::KeepName(inner) => self.agg(inner, s)?,
            Expr::Len => "COUNT(*)".into(),
            Expr::Agg(a) => self.agg_expr(a, s)?,
            Expr::Function {
                input,
                function: FunctionExpr::Boolean(b @ (BooleanFunction::Any { .. } | BooleanFunction::All { .. })),
            } => {
                let (x, _) = self.filtered(&input[0], s)?;
                match b {
                    BooleanFunction::Any { ignore_nulls: true } => format!("COALESCE(BOOL_OR({x}), FALSE)"),
                    BooleanFunction::All { ignore_nulls: true } => format!("COALESCE(BOOL_AND({x}), TRUE)"),
                    // Kleene logic: a null decides only when no value does.
                    BooleanFunction::Any { .. } => {
                        format!("CASE WHEN BOOL_OR({x}) THEN TRUE WHEN COUNT(*) > COUNT({x}) THEN NULL ELSE FALSE END")
                    }
                    _ => format!(
                        "CASE WHEN NOT BOOL_AND({x}) THEN FALSE WHEN COUNT(*) > COUNT({x}) THEN NULL ELSE TRUE END"
                    ),
                }
            }
            Expr::Function { input, function: FunctionExpr::NullCount } => {
                let (x, _) = self.filtered(&input[0], s)?;
                format!("COUNT(*) - COUNT({x})")
            }
            Expr::Cast { expr, dtype, .. } => {
                let t = cast_type(dtype)?;
                format!("CAST({} AS {})", self.agg(expr, s)?, sql_type(&t)?)
            }
            Expr::BinaryExpr { left, op, right } => {
                let l = self.agg_or_lit(left, s)?;
                let r = self.agg_or_lit(right, s)?;
                binary(&l, *op, &r, None)?
            }
            other => bail!("the aggregation {other:?}"),
        })
    }

    fn agg_or_lit(&mut self, e: &Expr, s: &Scope) -> anyhow::Result<String> {
        match unalias(e) {
            Expr::Literal(l) => literal(l),
            _ => self.agg(e, s),
        }
    }

    /// The row-wise value an aggregate reads, with a `filter` folded into
    /// it as a `CASE` (rows filtered out are null, which aggregates skip),
    /// and the filter's condition if there was one.
    fn filtered(&mut self, e: &Expr, s: &Scope) -> anyhow::Result<(String, Option<String>)> {
        match e {
            Expr::Filter { input, by } => {
                let x = self.expr(input, s)?;
                let p = self.expr(by, s)?;
                Ok((format!("CASE WHEN {p} THEN {x} END"), Some(p)))
            }
            e => Ok((self.expr(e, s)?, None)),
        }
    }

    fn agg_expr(&mut self, a: &AggExpr, s: &Scope) -> anyhow::Result<String> {
        let input = match a {
            AggExpr::Min { input, .. }
            | AggExpr::Max { input, .. }
            | AggExpr::NUnique(input)
            | AggExpr::Mean(input)
            | AggExpr::Sum(input)
            | AggExpr::Count { input, .. }
            | AggExpr::First(input)
            | AggExpr::FirstNonNull(input)
            | AggExpr::Last(input)
            | AggExpr::LastNonNull(input) => input.as_ref().clone(),
            other => bail!("the aggregation {:?}", Expr::Agg(other.clone())),
        };
        let base = match &input {
            Expr::Filter { input, .. } => input.as_ref().clone(),
            e => e.clone(),
        };
        let (x, cond) = self.filtered(&input, s)?;
        let dtype = dtype_of(&base, s.plan)?;
        Ok(match a {
            AggExpr::Min { .. } | AggExpr::Max { .. } => {
                let min = matches!(a, AggExpr::Min { .. });
                match dtype {
                    DataType::Boolean => format!("{}({x})", if min { "BOOL_AND" } else { "BOOL_OR" }),
                    _ => format!("{}({x})", if min { "MIN" } else { "MAX" }),
                }
            }
            // The kinds take a group's first value where the group's values
            // agree (a merchant's region, the one provider of an exclusive
            // merchant); where they do not, which row comes first depends on
            // the order rows arrive in, on any engine. The least value is
            // the one that does not.
            AggExpr::First(_) | AggExpr::FirstNonNull(_) | AggExpr::Last(_) | AggExpr::LastNonNull(_) => match dtype {
                DataType::Boolean => format!("BOOL_AND({x})"),
                _ => format!("MIN({x})"),
            },
            AggExpr::Sum(_) => {
                // polars sums booleans as counts and gives 0 for no values.
                let t = if dtype.is_float() { "DOUBLE" } else { "BIGINT" };
                format!("COALESCE(SUM(CAST({x} AS {t})), CAST(0 AS {t}))")
            }
            AggExpr::Mean(_) => format!("AVG(CAST({x} AS DOUBLE))"),
            AggExpr::Count { include_nulls: false, .. } => format!("COUNT({x})"),
            AggExpr::Count { include_nulls: true, .. } => match cond {
                Some(p) => format!("COUNT(CASE WHEN {p} THEN 1 END)"),
                None => "COUNT(*)".into(),
            },
            AggExpr::NUnique(_) => {
                // polars counts null as one more value.
                let nulls = match &cond {
                    Some(p) => format!("CASE WHEN ({p}) AND {} IS NULL THEN 1 ELSE 0 END", self.expr(&base, s)?),
                    None => format!("CASE WHEN {x} IS NULL THEN 1 ELSE 0 END"),
                };
                format!("COUNT(DISTINCT {x}) + COALESCE(MAX({nulls}), 0)")
            }
            other => bail!(
                "the aggregation {:?} (its result would depend on the rows' order or interpolate)",
                Expr::Agg(other.clone())
            ),
        })
    }

    /// A row-wise expression over the scope's columns.
    fn expr(&mut self, e: &Expr, s: &Scope) -> anyhow::Result<String> {
        Ok(match e {
            Expr::Alias(inner, _) | Expr::KeepName(inner) => self.expr(inner, s)?,
            Expr::Column(name) => ident(name),
            Expr::Literal(l) => literal(l)?,
            Expr::BinaryExpr { left, op, right } => {
                let float = matches!(op, Operator::TrueDivide)
                    || (matches!(op, Operator::FloorDivide | Operator::Modulus)
                        && dtype_of(e, s.plan).is_ok_and(|t| t.is_float()));
                let l = self.expr(left, s)?;
                let r = self.expr(right, s)?;
                binary(&l, *op, &r, Some(float))?
            }
            Expr::Cast { expr, dtype, .. } => {
                let t = cast_type(dtype)?;
                let x = self.expr(expr, s)?;
                // polars casts leniently: what does not fit becomes null.
                format!("TRY_CAST({x} AS {})", sql_type(&t)?)
            }
            Expr::Ternary { predicate, truthy, falsy } => {
                let p = self.expr(predicate, s)?;
                let t = self.expr(truthy, s)?;
                let f = self.expr(falsy, s)?;
                format!("CASE WHEN {p} THEN {t} ELSE {f} END")
            }
            Expr::Function { input, function } => self.function(input, function, s)?,
            Expr::AnonymousFunction { input, function, options, fmt_str } => {
                if input.len() != 1 || !options.is_elementwise() {
                    bail!("the Rust function `{fmt_str}` (not row-wise over one column)");
                }
                let udf = |arg: Expr| Expr::AnonymousFunction {
                    input: vec![arg],
                    function: function.clone(),
                    options: *options,
                    fmt_str: fmt_str.clone(),
                };
                self.lowered(&input[0], udf, s)?
            }
            other => bail!("the expression {other:?}"),
        })
    }

    /// A row-wise Rust function of `arg` as a `CASE` over the distinct
    /// values `arg` takes in the scope, each mapped here by polars.
    fn lowered(&mut self, arg: &Expr, udf: impl Fn(Expr) -> Expr, s: &Scope) -> anyhow::Result<String> {
        let x = self.expr(arg, s)?;
        let dtype = dtype_of(arg, s.plan)?;
        let a = self.alias();
        let values = self.env.distinct(&format!("SELECT DISTINCT {x} AS v FROM ({}) AS {a}", s.sql), &dtype)?;
        if values.len() > MAX_MAPPED {
            bail!("a Rust function over {} distinct values (at most {MAX_MAPPED} are mapped)", values.len());
        }
        let frame = DataFrame::new_infer_height(vec![values.with_name("__in".into()).into_column()])?;
        let mapped = frame.lazy().with_column(udf(col("__in")).alias("__out")).collect()?;
        let ins = mapped.column("__in")?.as_materialized_series().clone();
        let outs = mapped.column("__out")?.as_materialized_series().clone();
        let out_type = sql_type(outs.dtype())?;
        // A null input is never equal to a value: it gets a branch of its own.
        let mut null_out = format!("CAST(NULL AS {out_type})");
        let mut whens = String::new();
        for i in 0..ins.len() {
            let (k, v) = (ins.get(i)?, outs.get(i)?);
            if k.is_null() {
                null_out = format!("CAST({} AS {out_type})", value(&v)?);
                continue;
            }
            let _ = write!(whens, " WHEN {x} = {} THEN CAST({} AS {out_type})", value(&k)?, value(&v)?);
        }
        Ok(format!("(CASE WHEN {x} IS NULL THEN {null_out}{whens} ELSE CAST(NULL AS {out_type}) END)"))
    }

    fn function(&mut self, input: &[Expr], f: &FunctionExpr, s: &Scope) -> anyhow::Result<String> {
        let mut args = Vec::new();
        let is_in = matches!(f, FunctionExpr::Boolean(BooleanFunction::IsIn { .. }));
        for (i, e) in input.iter().enumerate() {
            if is_in && i == 1 {
                continue;
            }
            args.push(self.expr(e, s)?);
        }
        let one = || args.first().cloned().ok_or_else(|| anyhow!("a function without arguments"));
        Ok(match f {
            FunctionExpr::Boolean(b) => match b {
                BooleanFunction::IsNull => format!("({} IS NULL)", one()?),
                BooleanFunction::IsNotNull => format!("({} IS NOT NULL)", one()?),
                BooleanFunction::Not => format!("(NOT {})", one()?),
                BooleanFunction::IsFinite => {
                    let x = one()?;
                    format!("({x} = {x} AND ABS({x}) < CAST('Infinity' AS DOUBLE))")
                }
                BooleanFunction::IsNan => {
                    let x = one()?;
                    format!("({x} <> {x})")
                }
                BooleanFunction::IsIn { nulls_equal } => {
                    let list = match input.get(1).map(unalias) {
                        Some(Expr::Literal(LiteralValue::Series(list))) => Series::clone(list),
                        Some(Expr::Literal(l)) if l.to_any_value().is_some() => {
                            Series::from_any_values("".into(), &[l.to_any_value().unwrap_or(AnyValue::Null)], false)?
                        }
                        other => bail!("`is_in` over {other:?}"),
                    };
                    let list = match list.dtype() {
                        DataType::List(_) => list.explode(ExplodeOptions { empty_as_null: false, keep_nulls: true })?,
                        _ => list,
                    };
                    let x = one()?;
                    let mut vals = Vec::new();
                    let mut has_null = false;
                    for i in 0..list.len() {
                        let v = list.get(i)?;
                        if v.is_null() {
                            has_null = true;
                        } else {
                            vals.push(value(&v)?);
                        }
                    }
                    let within =
                        if vals.is_empty() { "FALSE".to_string() } else { format!("{x} IN ({})", vals.join(", ")) };
                    if *nulls_equal && has_null {
                        format!("(({x} IS NULL) OR COALESCE({within}, FALSE))")
                    } else if *nulls_equal {
                        format!("COALESCE({within}, FALSE)")
                    } else {
                        // A null value is in no list: null, as polars gives.
                        format!("(CASE WHEN {x} IS NULL THEN CAST(NULL AS BOOLEAN) ELSE {within} END)")
                    }
                }
                other => bail!("the boolean function {other:?}"),
            },
            FunctionExpr::Abs => format!("ABS({})", one()?),
            FunctionExpr::Negate => format!("(-{})", one()?),
            FunctionExpr::FillNull | FunctionExpr::Coalesce => format!("COALESCE({})", args.join(", ")),
            FunctionExpr::Pow(_) if args.len() == 2 => {
                format!("POWER(CAST({} AS DOUBLE), CAST({} AS DOUBLE))", args[0], args[1])
            }
            FunctionExpr::StringExpr(sf) => string_function(sf, &args)?,
            FunctionExpr::TemporalExpr(TemporalFunction::TimeStamp(TimeUnit::Microseconds)) => {
                format!("CAST({} AS BIGINT)", one()?)
            }
            other => bail!("the function {other:?}"),
        })
    }
}

fn string_function(f: &StringFunction, args: &[String]) -> anyhow::Result<String> {
    let arg = |i: usize| args.get(i).cloned().ok_or_else(|| anyhow!("a string function without arguments"));
    Ok(match f {
        StringFunction::LenBytes => format!("CAST(OCTET_LENGTH({}) AS INT UNSIGNED)", arg(0)?),
        StringFunction::LenChars => format!("CAST(CHARACTER_LENGTH({}) AS INT UNSIGNED)", arg(0)?),
        StringFunction::Lowercase => format!("LOWER({})", arg(0)?),
        StringFunction::Uppercase => format!("UPPER({})", arg(0)?),
        StringFunction::StartsWith => format!("STARTS_WITH({}, {})", arg(0)?, arg(1)?),
        StringFunction::EndsWith => format!("ENDS_WITH({}, {})", arg(0)?, arg(1)?),
        StringFunction::Contains { literal: true, .. } => format!("(STRPOS({}, {}) > 0)", arg(0)?, arg(1)?),
        other => bail!("the string function {other:?}"),
    })
}

/// `l op r`; `float` says whether a division or modulus works on floats
/// (unknown in an aggregate, where operands are cast to floats anyway).
fn binary(l: &str, op: Operator, r: &str, float: Option<bool>) -> anyhow::Result<String> {
    let floats = float.unwrap_or(true);
    Ok(match op {
        Operator::Eq => format!("({l} = {r})"),
        Operator::NotEq => format!("({l} <> {r})"),
        Operator::EqValidity => format!("({l} IS NOT DISTINCT FROM {r})"),
        Operator::NotEqValidity => format!("({l} IS DISTINCT FROM {r})"),
        Operator::Lt => format!("({l} < {r})"),
        Operator::LtEq => format!("({l} <= {r})"),
        Operator::Gt => format!("({l} > {r})"),
        Operator::GtEq => format!("({l} >= {r})"),
        Operator::Plus => format!("({l} + {r})"),
        Operator::Minus => format!("({l} - {r})"),
        Operator::Multiply => format!("({l} * {r})"),
        Operator::And | Operator::LogicalAnd => format!("({l} AND {r})"),
        Operator::Or | Operator::LogicalOr => format!("({l} OR {r})"),
        Operator::TrueDivide => format!("(CAST({l} AS DOUBLE) / CAST({r} AS DOUBLE))"),
        Operator::FloorDivide if floats => format!("FLOOR(CAST({l} AS DOUBLE) / CAST({r} AS DOUBLE))"),
        // Integer division rounds toward minus infinity in polars, toward
        // zero in SQL: they differ when the signs differ and it is inexact.
        Operator::FloorDivide => {
            format!("(({l}) / ({r}) - CASE WHEN ({l}) % ({r}) <> 0 AND (({l}) < 0) <> (({r}) < 0) THEN 1 ELSE 0 END)")
        }
        other => bail!("the operator {other:?}"),
    })
}

/// The type of a cast, when given literally.
fn cast_type(t: &DataTypeExpr) -> anyhow::Result<DataType> {
    match t {
        DataTypeExpr::Literal(dt) => Ok(dt.clone()),
        other => bail!("a cast to a computed type {other:?}"),
    }
}

/// The output columns of a rename, each from its input column.
fn renamed(f: &DslFunction, before: &Schema, out: &Schema) -> anyhow::Result<Vec<String>> {
    let mut cols = Vec::new();
    for name in out.iter_names() {
        let source = match f {
            DslFunction::Rename { existing, new, .. } => {
                new.iter().position(|n| n == name).map_or(name.clone(), |i| existing[i].clone())
            }
            _ => name.clone(),
        };
        if before.get(&source).is_none() {
            bail!("the column `{name}` of a rename");
        }
        cols.push(format!("{} AS {}", ident(&source), ident(name)));
    }
    Ok(cols)
}

fn node_name(p: &DslPlan) -> &'static str {
    match p {
        DslPlan::Join { .. } => "join",
        DslPlan::DataFrameScan { .. } => "in-memory frame",
        DslPlan::HConcat { .. } => "horizontal concatenation",
        DslPlan::ExtContext { .. } => "context",
        DslPlan::MatchToSchema { .. } => "match-to-schema",
        DslPlan::PipeWithSchema { .. } => "pipe-with-schema",
        DslPlan::Gather { .. } => "gather",
        DslPlan::Sink { .. } | DslPlan::SinkMultiple { .. } => "sink",
        _ => "(another)",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Answers the translator from fixed values, and records what it asked.
    struct Fixed {
        values: Series,
        asked: Vec<String>,
    }

    impl Env for Fixed {
        fn table(&mut self, _: &str) -> anyhow::Result<String> {
            Ok("t0".into())
        }

        fn distinct(&mut self, query: &str, _: &DataType) -> anyhow::Result<Series> {
            self.asked.push(query.to_string());
            Ok(self.values.clone())
        }
    }

    /// A one-column Parquet file `a` and its scan.
    fn scan(dir: &std::path::Path) -> LazyFrame {
        let path = dir.join("t.parquet");
        let mut df = df!("a" => [Some("x"), None]).unwrap();
        ParquetWriter::new(std::fs::File::create(&path).unwrap()).finish(&mut df).unwrap();
        LazyFrame::scan_parquet(PlRefPath::new(path.to_string_lossy().as_ref()), ScanArgsParquet::default()).unwrap()
    }

    #[test]
    fn a_rust_function_becomes_a_case_over_its_distinct_inputs_with_null_apart() {
        let dir = tempfile::tempdir().unwrap();
        // Upper-cases; null maps to "NONE" (a function whose null is not null).
        let upper = |c: Column| -> PolarsResult<Column> {
            let ca = c.str()?;
            let out: StringChunked = ca.iter().map(|v| Some(v.map_or("NONE".to_string(), str::to_uppercase))).collect();
            Ok(out.with_name(ca.name().clone()).into_column())
        };
        let plan = scan(dir.path()).select([col("a").map(upper, |_, f| Ok(f.clone())).alias("b")]);
        let values = Series::new("v".into(), [Some("x"), None, Some("it's")]);
        let mut env = Fixed { values, asked: Vec::new() };
        let sql = query(&plan, &mut env).unwrap();
        assert_eq!(env.asked, ["SELECT DISTINCT \"a\" AS v FROM (SELECT \"a\" FROM t0) AS q1"]);
        assert_eq!(
            sql,
            "SELECT (CASE WHEN \"a\" IS NULL THEN CAST('NONE' AS VARCHAR) \
             WHEN \"a\" = 'x' THEN CAST('X' AS VARCHAR) WHEN \"a\" = 'it''s' THEN CAST('IT''S' AS VARCHAR) \
             ELSE CAST(NULL AS VARCHAR) END) AS \"b\" FROM (SELECT \"a\" FROM t0) AS q2"
        );
    }

    #[test]
    fn aggregates_keep_polars_semantics() {
        let dir = tempfile::tempdir().unwrap();
        let plan = scan(dir.path()).group_by([col("a")]).agg([
            col("a").n_unique().alias("n"),
            len().alias("rows"),
            col("a").eq(lit("x")).any(true).alias("any"),
        ]);
        let mut env = Fixed { values: Series::new_empty("v".into(), &DataType::String), asked: Vec::new() };
        let sql = query(&plan, &mut env).unwrap();
        assert_eq!(
            sql,
            "SELECT \"a\" AS \"a\", COUNT(DISTINCT \"a\") + COALESCE(MAX(CASE WHEN \"a\" IS NULL THEN 1 ELSE 0 END), 0) \
             AS \"n\", COUNT(*) AS \"rows\", COALESCE(BOOL_OR((\"a\" = 'x')), FALSE) AS \"any\" \
             FROM (SELECT \"a\" FROM t0) AS q1 GROUP BY \"a\""
        );
        assert!(env.asked.is_empty());
    }
}
