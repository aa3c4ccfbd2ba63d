"""Recompute the sample audit's metrics with DuckDB, independently of hutong.

Reads the logs with DuckDB's own CSV reader, validates rows with SQL, maps raw
labels with Python's `re` from the rulebook's aliases, computes every metric
of the shipped rules again and compares each number with findings.json.

usage: python recompute.py RULEBOOK DATA_DIR FINDINGS_JSON
"""

import json
import math
import re
import sys
import tomllib

import duckdb

TOL = 1e-6


def main() -> int:
    rulebook_path, data, findings_path = sys.argv[1:4]
    with open(rulebook_path, "rb") as f:
        rb = tomllib.load(f)
    with open(findings_path, encoding="utf-8") as f:
        findings = {x["rule_id"]: x for x in json.load(f)["findings"]}

    providers = rb["providers"]
    patterns = [(pid, re.compile(a, re.IGNORECASE)) for pid, p in providers.items() for a in p["aliases"]]
    affiliated = {plat: pid for pid, p in providers.items() for plat in p.get("affiliated_platforms", [])}
    sets = rb["sets"]

    def provider_of(label):
        if label is None:
            return None
        hits = {pid for pid, rx in patterns if rx.search(label)}
        assert len(hits) <= 1, f"ambiguous label {label}: {hits}"
        return hits.pop() if hits else None

    db = duckdb.connect()
    # Rows with the wrong number of fields are skipped by the reader
    # (ignore_errors); the remaining checks mirror the data contract in SQL.
    db.execute(
        f"""CREATE TABLE raw_txn AS SELECT * FROM read_csv('{data}/transactions.csv', header=true,
            all_varchar=true, ignore_errors=true)"""
    )
    db.execute(
        """CREATE TABLE txn AS SELECT *, lower(status) AS st, TRY_CAST(latency_ms AS BIGINT) AS lat
           FROM raw_txn
           WHERE TRY_CAST(ts AS TIMESTAMPTZ) IS NOT NULL
             AND TRY_CAST(amount AS DOUBLE) >= 0
             AND lower(status) IN ('success', 'failed')
             AND lower(channel) IN ('online', 'offline')
             AND merchant_id IS NOT NULL AND txn_id IS NOT NULL"""
    )
    db.execute(
        f"""CREATE TABLE raw_co AS SELECT * FROM read_csv('{data}/checkout.csv', header=true,
            all_varchar=true, ignore_errors=true)"""
    )
    db.execute(
        """CREATE TABLE co AS SELECT *, TRY_CAST(surcharge AS DOUBLE) AS sur FROM raw_co
           WHERE TRY_CAST(position AS BIGINT) >= 1
             AND lower(is_default) IN ('true', 'false', '1', '0', 'yes', 'no')
             AND lower(folded) IN ('true', 'false', '1', '0', 'yes', 'no')
             AND TRY_CAST(ts AS TIMESTAMPTZ) IS NOT NULL"""
    )
    labels = set()
    for col, table in [("method", "txn"), ("wallet_app", "txn"), ("code_issuer", "txn"), ("method", "co")]:
        labels |= {r[0] for r in db.execute(f"SELECT DISTINCT {col} FROM {table} WHERE {col} IS NOT NULL").fetchall()}
    db.execute("CREATE TABLE map (label VARCHAR, provider VARCHAR)")
    db.executemany("INSERT INTO map VALUES (?, ?)", [(l, provider_of(l)) for l in sorted(labels)])
    db.execute("CREATE TABLE cox AS SELECT co.*, map.provider FROM co LEFT JOIN map ON co.method = map.label")
    db.execute(
        """CREATE TABLE txx AS SELECT txn.*, m.provider, a.provider AS app, i.provider AS issuer FROM txn
           LEFT JOIN map m ON txn.method = m.label
           LEFT JOIN map a ON txn.wallet_app = a.label
           LEFT JOIN map i ON txn.code_issuer = i.label"""
    )

    checks = 0
    failures = []

    def same(what, ours, theirs):
        nonlocal checks
        checks += 1
        ok = (ours is None and theirs is None) or (
            ours is not None and theirs is not None and math.isclose(ours, theirs, rel_tol=0, abs_tol=TOL)
        )
        if not ok:
            failures.append(f"{what}: DuckDB {ours} vs hutong {theirs}")

    def group(rule, **key):
        for g in findings[rule]["groups"]:
            if all(g["key"].get(k) == v for k, v in key.items()):
                return g
        failures.append(f"{rule}: no group {key}")
        return None

    # CN-PL-01: share of a platform's merchants that offered UnionPay at least once.
    for plat, n, covered in db.execute(
        """SELECT platform, count(*), count(*) FILTER (WHERE up) FROM
           (SELECT platform, merchant_id, bool_or(provider = 'unionpay') AS up FROM cox GROUP BY ALL)
           GROUP BY platform"""
    ).fetchall():
        g = group("CN-PL-01", platform=plat)
        if g:
            same(f"CN-PL-01 {plat} n", n, g["n"])
            same(f"CN-PL-01 {plat} share", round(covered / n, 6), g["value"])

    # CN-PL-02: rival session coverage / affiliated session coverage.
    sessions = db.execute(
        """SELECT platform, provider, count(DISTINCT session_id) FROM cox WHERE provider IS NOT NULL GROUP BY ALL"""
    ).fetchall()
    per = {}
    for plat, prov, n in sessions:
        per.setdefault(plat, {})[prov] = n
    for plat, counts in per.items():
        aff = affiliated.get(plat)
        if aff is None:
            continue
        for rival in sets["majors"]:
            if rival == aff:
                continue
            g = group("CN-PL-02", platform=plat, provider=rival)
            if g:
                same(f"CN-PL-02 {plat}/{rival}", round(counts.get(rival, 0) / counts[aff], 6), g["value"])

    # CN-PL-03: merchants whose every option maps to the affiliated provider.
    excl = db.execute(
        """SELECT platform, merchant_id, count(DISTINCT coalesce(provider, '?')) AS k,
                  min(coalesce(provider, '?')) AS only FROM cox GROUP BY ALL"""
    ).fetchall()
    count = {}
    for plat, _m, k, only in excl:
        if k == 1 and affiliated.get(plat) == only:
            count[plat] = count.get(plat, 0) + 1
    for plat in per:
        if plat in affiliated:
            g = group("CN-PL-03", platform=plat)
            if g:
                same(f"CN-PL-03 {plat}", count.get(plat, 0), g["value"])

    # CN-ND-01 (visible rate ratio) and CN-ND-04 (surcharge incidence difference).
    rates = db.execute(
        """SELECT platform, provider, count(*),
                  count(*) FILTER (WHERE lower(folded) IN ('false', '0', 'no')),
                  count(*) FILTER (WHERE coalesce(sur, 0) > 0)
           FROM cox WHERE provider IS NOT NULL GROUP BY ALL"""
    ).fetchall()
    arm = {(p, q): (n, vis, sur) for p, q, n, vis, sur in rates}
    for (plat, prov), (n, vis, sur) in arm.items():
        aff = affiliated.get(plat)
        if aff is None or prov == aff or prov not in sets["majors"]:
            continue
        an, avis, asur = arm[(plat, aff)]
        g = group("CN-ND-01", platform=plat, provider=prov)
        if g:
            same(f"CN-ND-01 {plat}/{prov}", round((vis / n) / (avis / an), 6), g["value"])
        g = group("CN-ND-04", platform=plat, provider=prov)
        if g:
            same(f"CN-ND-04 {plat}/{prov}", round(sur / n - asur / an, 6), g["value"])

    # CN-ND-02 (failure-rate gap) and CN-ND-03 (nearest-rank p95 latency ratio), online.
    tx = db.execute(
        """SELECT platform, provider, count(*), count(*) FILTER (WHERE st = 'failed'),
                  list_sort(list(lat) FILTER (WHERE lat IS NOT NULL))
           FROM txx WHERE lower(channel) = 'online' AND provider IS NOT NULL GROUP BY ALL"""
    ).fetchall()
    tarm = {(p, q): (n, f, lats) for p, q, n, f, lats in tx}

    def p95(lats):
        return lats[math.ceil(0.95 * len(lats)) - 1]

    for (plat, prov), (n, f, lats) in tarm.items():
        aff = affiliated.get(plat)
        if aff is None or prov == aff or prov not in sets["majors"]:
            continue
        an, af, alats = tarm[(plat, aff)]
        g = group("CN-ND-02", platform=plat, provider=prov)
        if g:
            same(f"CN-ND-02 {plat}/{prov}", round(f / n - af / an, 6), g["value"])
        g = group("CN-ND-03", platform=plat, provider=prov)
        if g:
            same(f"CN-ND-03 {plat}/{prov}", round(p95(lats) / p95(alats), 6), g["value"])

    # CN-IO-01: attempts and successes per pilot cell, zero where no scans.
    cells = {
        (r, a, i): (n, s)
        for r, a, i, n, s in db.execute(
            """SELECT region, app, issuer, count(*), count(*) FILTER (WHERE st = 'success') FROM txx
               WHERE lower(channel) = 'offline' AND app IS NOT NULL AND issuer IS NOT NULL GROUP BY ALL"""
        ).fetchall()
    }
    for region in sets["pilot_regions"]:
        for a in sets["majors"]:
            for i in sets["majors"]:
                if a == i:
                    continue
                n, s = cells.get((region, a, i), (0, 0))
                g = group("CN-IO-01", region=region, app=a, issuer=i)
                if g:
                    same(f"CN-IO-01 {region} {a}->{i} attempts", n, g["n"])
                    same(f"CN-IO-01 {region} {a}->{i} successes", s, g["successes"])

    # CN-MK-01: HHI of successful transactions by channel (online: method, offline: app).
    for channel, hhi in db.execute(
        """WITH s AS (SELECT lower(channel) AS ch,
                             CASE WHEN lower(channel) = 'offline' THEN coalesce(app, provider) ELSE provider END AS firm,
                             count(*) AS n
                      FROM txx WHERE st = 'success' GROUP BY ALL),
                t AS (SELECT ch, sum(n) AS total FROM s WHERE firm IS NOT NULL GROUP BY ch)
           SELECT s.ch, sum(power(100.0 * n / total, 2)) FROM s JOIN t USING (ch) WHERE firm IS NOT NULL GROUP BY s.ch"""
    ).fetchall():
        g = group("CN-MK-01", channel=channel)
        if g:
            same(f"CN-MK-01 {channel}", round(hhi, 6), g["value"])

    for f in failures:
        print("MISMATCH", f)
    print(f"duckdb: {checks - len(failures)} passed, {len(failures)} failed")
    return 1 if failures or checks == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
