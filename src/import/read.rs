//! Reading an export line by line as its profile says: decoding, lines set
//! aside, the header and its aliases, splitting (delimited with an optional
//! value prefix, or fixed byte widths), value cleanup and row routing. One
//! line in, one outcome out, so memory does not grow with the file.

use std::collections::BTreeMap;

use super::profile::{normalise, Encoding, Layout, Profile, Source};

/// What became of one physical line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Empty or whitespace only: not a row.
    Blank,
    /// The header: not a row.
    Header,
    /// Not a payment attempt, or not data at all: kept in set-aside.csv.
    SetAside(String),
    /// A row that cannot be read: kept in rejected/transactions.csv.
    Rejected(String),
    /// A data row, by source column position.
    Row(Vec<String>),
}

/// A line's problem that stops the file: a header the profile cannot use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderError(pub String);

/// The state of reading one file.
pub struct Reader<'p> {
    profile: &'p Profile,
    /// Source column name → position, once the header is read (fixed: from the profile).
    index: Option<BTreeMap<String, usize>>,
    /// Set when the header has a `header_has` route's column: every row of
    /// the file is set aside with this reason.
    whole_file: Option<String>,
    /// Delimited: the header's field count, which every row must have.
    /// Fixed: the bytes a line must have to hold every field the profile reads.
    width: usize,
    in_footer: bool,
    first_line: bool,
}

impl<'p> Reader<'p> {
    pub fn new(profile: &'p Profile) -> Reader<'p> {
        let (index, width) = match &profile.layout {
            Layout::Fixed { fields, separator } => {
                let index: BTreeMap<String, usize> =
                    fields.iter().enumerate().map(|(i, (n, _))| (n.clone(), i)).collect();
                // Trailing fields the profile does not read may be cut off
                // (trailing spaces trimmed); every field it reads must be there.
                let read = used(profile);
                let last = fields.iter().rposition(|(n, _)| read.contains(n)).unwrap_or(0);
                let width =
                    fields[..=last.min(fields.len().saturating_sub(1))].iter().map(|f| f.1 + separator).sum::<usize>();
                (Some(index), width.saturating_sub(*separator))
            }
            Layout::Delimited { .. } => (None, 0),
        };
        Reader { profile, index, width, whole_file: None, in_footer: false, first_line: true }
    }

    /// The position of each source column, once known.
    pub fn index(&self) -> Option<&BTreeMap<String, usize>> {
        self.index.as_ref()
    }

    /// Reads one line (without its line end).
    pub fn line(&mut self, raw: &[u8]) -> Result<Outcome, HeaderError> {
        let mut bytes = raw.strip_suffix(b"\r").unwrap_or(raw);
        if std::mem::take(&mut self.first_line) {
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        let Some(text) = decode(self.profile.encoding, bytes) else {
            let name = encoding_name(self.profile.encoding);
            // Before the header, a line the encoding cannot read means the
            // file is not in the profile's encoding at all.
            if self.index.is_none() {
                return Err(HeaderError(format!("not valid {name} before the header: the profile reads {name} files")));
            }
            return Ok(Outcome::Rejected(format!("encoding: not valid {name}")));
        };
        if text.trim().is_empty() {
            return Ok(Outcome::Blank);
        }
        if self.in_footer {
            let reason = self.profile.footer.as_ref().map(|f| f.reason.clone()).unwrap_or_default();
            return Ok(Outcome::SetAside(reason));
        }
        if let Some(f) = &self.profile.footer {
            if f.pattern.is_match(&text) {
                self.in_footer = true;
                return Ok(Outcome::SetAside(f.reason.clone()));
            }
        }
        if let Some(rule) = self.profile.skip.iter().find(|r| r.pattern.is_match(&text)) {
            return Ok(Outcome::SetAside(rule.reason.clone()));
        }
        let fields = match &self.profile.layout {
            Layout::Fixed { fields, separator } => {
                match slice(bytes, fields, *separator, self.width, self.profile.encoding) {
                    Ok(values) => values,
                    Err(why) => return Ok(Outcome::Rejected(format!("layout: {why}"))),
                }
            }
            Layout::Delimited { delimiter, value_prefix } => match split(&text, *delimiter, value_prefix.as_deref()) {
                Some(values) => values,
                None => return Ok(Outcome::Rejected("quoting: malformed quoting".to_string())),
            },
        };
        let fields: Vec<String> = fields.into_iter().map(|v| self.clean(&v)).collect();
        let Some(index) = &self.index else {
            let index = self.header(&fields)?;
            self.whole_file = self
                .profile
                .routes
                .iter()
                .find(|r| r.header_has.as_ref().is_some_and(|h| index.contains_key(h)))
                .map(|r| r.reason.clone());
            self.index = Some(index);
            self.width = fields.len();
            return Ok(Outcome::Header);
        };
        if let Layout::Delimited { .. } = self.profile.layout {
            if fields.len() != self.width {
                return Ok(Outcome::Rejected(format!(
                    "field_count: {} fields, the header has {}",
                    fields.len(),
                    self.width
                )));
            }
        }
        if let Some(reason) = &self.whole_file {
            return Ok(Outcome::SetAside(reason.clone()));
        }
        for r in &self.profile.routes {
            let Some(column) = &r.column else { continue };
            let value = index.get(column).and_then(|&i| fields.get(i)).map(String::as_str).unwrap_or("");
            if r.sets_aside(value) {
                return Ok(Outcome::SetAside(r.reason.clone()));
            }
        }
        Ok(Outcome::Row(fields))
    }

    fn clean(&self, v: &str) -> String {
        let mut s = v;
        if let Layout::Delimited { value_prefix: Some(p), .. } = &self.profile.layout {
            s = s.strip_prefix(p.as_str()).unwrap_or(s);
        }
        if self.profile.trim {
            s = s.trim_matches(|c: char| c.is_whitespace());
            // A value may carry the prefix after spaces (e.g. "` 0.01").
            if let Layout::Delimited { value_prefix: Some(p), .. } = &self.profile.layout {
                s = s.strip_prefix(p.as_str()).unwrap_or(s).trim();
            }
        }
        s.to_string()
    }

    /// The header: each column's position, checked against what the profile
    /// reads (its aliases counted).
    fn header(&self, fields: &[String]) -> Result<BTreeMap<String, usize>, HeaderError> {
        let names: Vec<String> = fields.iter().map(|f| normalise(f)).collect();
        let mut index: BTreeMap<String, usize> = BTreeMap::new();
        for (i, n) in names.iter().enumerate() {
            index.entry(n.clone()).or_insert(i);
        }
        // A column known by an alias is entered under its profile name.
        for (name, aliases) in &self.profile.headers {
            if !index.contains_key(name) {
                if let Some(i) = aliases.iter().find_map(|a| index.get(a).copied()) {
                    index.insert(name.clone(), i);
                }
            }
        }
        let mut missing = Vec::new();
        for (column, expr) in &self.profile.columns {
            if let Source::Columns(list) = &expr.source {
                if !list.iter().any(|c| index.contains_key(c)) {
                    missing.push(format!("`{}` (for {column})", list.join("` or `")));
                }
            }
        }
        for column in self.profile.routes.iter().filter_map(|r| r.column.as_ref()) {
            if !index.contains_key(column) {
                missing.push(format!("`{column}` (to set rows aside)"));
            }
        }
        if !missing.is_empty() {
            return Err(HeaderError(format!(
                "the header lacks {}; it has {}",
                missing.join(", "),
                names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
            )));
        }
        Ok(index)
    }
}

fn encoding_name(e: Encoding) -> &'static str {
    match e {
        Encoding::Utf8 => "UTF-8",
        Encoding::Gbk => "GBK",
        Encoding::Gb18030 => "GB18030",
    }
}

/// Decodes a line; `None` when its bytes are not valid in the encoding.
pub fn decode(e: Encoding, bytes: &[u8]) -> Option<String> {
    match e {
        Encoding::Utf8 => std::str::from_utf8(bytes).ok().map(str::to_string),
        // The WHATWG GBK decoder reads all of GB18030, a superset of GBK.
        Encoding::Gbk | Encoding::Gb18030 => {
            encoding_rs::GB18030.decode_without_bom_handling_and_without_replacement(bytes).map(|c| c.into_owned())
        }
    }
}

/// Splits a delimited line. With a value prefix (WeChat's backtick), fields
/// are split on the delimiter followed by the prefix, so a delimiter inside a
/// value stays in it; otherwise as CSV, with quotes. `None`: broken quoting.
pub fn split(line: &str, delimiter: u8, value_prefix: Option<&str>) -> Option<Vec<String>> {
    if let Some(p) = value_prefix {
        if line.starts_with(p) {
            let sep = format!("{}{p}", delimiter as char);
            return Some(line.split(sep.as_str()).map(str::to_string).collect());
        }
    }
    let mut rdr =
        csv::ReaderBuilder::new().has_headers(false).delimiter(delimiter).flexible(true).from_reader(line.as_bytes());
    let mut record = csv::StringRecord::new();
    match rdr.read_record(&mut record) {
        Ok(true) => {}
        Ok(false) => return Some(vec![String::new()]),
        Err(_) => return None,
    }
    // An unclosed quote swallows the line end: the csv reader accepts it, we do not.
    if line.matches('"').count() % 2 == 1 {
        return None;
    }
    Some(record.iter().map(str::to_string).collect())
}

/// The source columns a profile reads (mappings and routes).
fn used(profile: &Profile) -> Vec<String> {
    let mut out: Vec<String> = profile
        .columns
        .iter()
        .flat_map(|(_, e)| match &e.source {
            Source::Columns(list) => list.clone(),
            Source::Constant(_) => Vec::new(),
        })
        .collect();
    out.extend(profile.routes.iter().filter_map(|r| r.column.clone()));
    out
}

/// Cuts a fixed-width line into its fields by bytes, then decodes each; the
/// line must have at least `need` bytes, and fields past its end are empty.
pub fn slice(
    bytes: &[u8],
    fields: &[(String, usize)],
    separator: usize,
    need: usize,
    e: Encoding,
) -> Result<Vec<String>, String> {
    if bytes.len() < need {
        return Err(format!("{} bytes, the layout needs {need}", bytes.len()));
    }
    let mut out = Vec::with_capacity(fields.len());
    let mut pos = 0;
    for (i, (name, width)) in fields.iter().enumerate() {
        let end = (pos + width).min(bytes.len());
        let piece = &bytes[pos.min(end)..end];
        match decode(e, piece) {
            Some(v) => out.push(v),
            None => {
                return Err(format!("field `{name}` (bytes {}–{}) is not valid {}", pos + 1, end, encoding_name(e)))
            }
        }
        pos = end + if i + 1 < fields.len() { separator } else { 0 };
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backtick_prefix_keeps_commas_inside_values() {
        let f = split("`2019-02-19 01:52:32,`wx1,`商品,名称,`0.01", b',', Some("`")).unwrap();
        assert_eq!(f, ["`2019-02-19 01:52:32", "wx1", "商品,名称", "0.01"]);
        // Without the prefix, CSV rules with quotes.
        assert_eq!(split("a,\"b,c\",d", b',', None).unwrap(), ["a", "b,c", "d"]);
        assert_eq!(split("a,\"b,c,d", b',', None), None);
    }

    #[test]
    fn fixed_fields_are_cut_by_bytes_not_characters() {
        // "银联" is 4 bytes in GBK: a 6-byte field holds it and two spaces.
        let (gbk, _, _) = encoding_rs::GBK.encode("S22 银联   0000001234");
        let fields = vec![("code".to_string(), 3), ("name".to_string(), 6), ("amount".to_string(), 10)];
        let v = slice(&gbk, &fields, 1, 21, Encoding::Gbk).unwrap();
        assert_eq!(v, ["S22", "银联  ", "0000001234"]);
        assert_eq!(slice(b"S22 ab", &fields, 1, 21, Encoding::Gbk).unwrap_err(), "6 bytes, the layout needs 21");
        // Fields past a shorter line's end are empty when not needed.
        assert_eq!(slice(b"S22 ab", &fields, 1, 3, Encoding::Gbk).unwrap(), ["S22", "ab", ""]);
    }
}
