"""Run the shipped rulebook's audit written in DuckDB SQL (bench/audit.sql).

usage: duckdb_audit.py --rules RULEBOOK --data DIR [--compare FINDINGS_JSON]

With --compare, checks every metric against hutong's findings.json and prints
`duckdb: N passed, M failed` (exit 1 on any mismatch). Without it, prints the
number of metrics computed. Used by bench/run.sh (timed) and by .ci/run (as an
independent recomputation of the sample audit).
"""

import argparse
import json
import math
import os
import re
import sys
import tomllib

import duckdb

HERE = os.path.dirname(os.path.abspath(__file__))
MAJORS = ("alipay", "wechat_pay", "unionpay")


def normalize(code: str) -> str:
    """Lower case, separators folded into one space (ASCII codes need no NFKC)."""
    return " ".join(re.split(r"[ _.\-]+", code.lower())).strip()


def source(data: str, name: str) -> str:
    csv = os.path.join(data, f"{name}.csv")
    if os.path.exists(csv):
        # Rows with the wrong number of fields are skipped, like hutong's rejects.
        return f"read_csv('{csv}', header=true, all_varchar=true, ignore_errors=true)"
    return f"read_parquet('{os.path.join(data, name + '.parquet')}')"


def run(rules: str, data: str) -> dict:
    with open(rules, "rb") as f:
        rb = tomllib.load(f)
    con = duckdb.connect()
    con.execute("CREATE TEMP TABLE aliases (provider VARCHAR, pattern VARCHAR)")
    con.executemany(
        "INSERT INTO aliases VALUES (?, ?)",
        [(pid, a) for pid, p in rb["providers"].items() for a in p["aliases"]],
    )
    con.execute("CREATE TEMP TABLE affiliation (platform VARCHAR, provider VARCHAR)")
    con.executemany(
        "INSERT INTO affiliation VALUES (?, ?)",
        [(plat, pid) for pid, p in rb["providers"].items() for plat in p.get("affiliated_platforms", [])],
    )
    # Failure codes the rulebook classes as not technical, normalised like hutong does.
    con.execute("CREATE TEMP TABLE nontechnical (code VARCHAR)")
    classes = rb.get("failure_codes", {})
    con.executemany(
        "INSERT INTO nontechnical VALUES (?)",
        [(normalize(c),) for cls, codes in classes.items() if cls != "technical" for c in codes],
    )
    with open(os.path.join(HERE, "audit.sql"), encoding="utf-8") as f:
        script = f.read().replace("{txn}", source(data, "transactions")).replace("{co}", source(data, "checkout"))
    con.execute(script)

    metrics = {}

    def put(rule, key, value):
        metrics[f"{rule}|{key}"] = value

    for plat, n, value in con.execute("SELECT platform, n, value FROM r_pl01").fetchall():
        put("CN-PL-01", f"platform={plat}", value)
        put("CN-PL-01#n", f"platform={plat}", n)
    for rule, table in [("CN-PL-02", "r_pl02"), ("CN-ND-01", "r_nd01"), ("CN-ND-02", "r_nd02"),
                        ("CN-ND-03", "r_nd03"), ("CN-ND-04", "r_nd04"), ("CN-ND-05", "r_nd05")]:
        for plat, prov, value in con.execute(f"SELECT platform, provider, value FROM {table}").fetchall():
            put(rule, f"platform={plat},provider={prov}", value)
    for plat, value in con.execute("SELECT platform, value FROM r_pl03").fetchall():
        put("CN-PL-03", f"platform={plat}", value)
    cells = {(r, a, i): (n, s) for r, a, i, n, s in con.execute("SELECT * FROM r_io").fetchall()}
    # CN-IO-01 requires the pilot cities; CN-IO-03 (regions = "*") every
    # region with offline scans in the data.
    for rule, regions in [("CN-IO-01", rb["sets"]["pilot_regions"]), ("CN-IO-03", sorted({r for r, _, _ in cells}))]:
        for region in regions:
            for a in MAJORS:
                for i in MAJORS:
                    if a != i:
                        n, s = cells.get((region, a, i), (0, 0))
                        put(f"{rule}#n", f"app={a},issuer={i},region={region}", n)
                        put(f"{rule}#successes", f"app={a},issuer={i},region={region}", s)
    shares = {}
    for channel, firm, share in con.execute("SELECT channel, firm, share FROM r_mk").fetchall():
        shares.setdefault(channel, []).append(share)
    for channel, s in shares.items():
        put("CN-MK-01", f"channel={channel}", sum((100 * x) ** 2 for x in s))
    return metrics


def hutong_metrics(findings_path: str) -> dict:
    with open(findings_path, encoding="utf-8") as f:
        findings = json.load(f)["findings"]
    out = {}
    for f in findings:
        for g in f["groups"]:
            key = ",".join(f"{k}={v}" for k, v in sorted(g["key"].items()))
            out[f"{f['rule_id']}|{key}"] = g["value"]
            out[f"{f['rule_id']}#n|{key}"] = g["n"]
            if "successes" in g:
                out[f"{f['rule_id']}#successes|{key}"] = g["successes"]
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rules", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--compare")
    args = ap.parse_args()
    ours = run(args.rules, args.data)
    if not args.compare:
        print(f"duckdb: {len(ours)} metrics")
        return 0
    theirs = hutong_metrics(args.compare)
    failures = []
    for k, v in sorted(ours.items()):
        h = theirs.get(k)
        if h is None or v is None or not math.isclose(round(v, 6), h, rel_tol=0, abs_tol=1e-6):
            failures.append(f"{k}: DuckDB {v} vs hutong {h}")
    for f in failures:
        print("MISMATCH", f)
    print(f"duckdb: {len(ours) - len(failures)} passed, {len(failures)} failed")
    return 1 if failures or not ours else 0


if __name__ == "__main__":
    sys.exit(main())
