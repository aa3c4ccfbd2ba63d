"""One plain scan of the columns the shipped rules use, with DuckDB: the cost
of reading the data once, as a yardstick for the audit.

usage: scan.py DATA_DIR
"""

import os
import sys

import duckdb

TXN = ["txn_id", "ts", "platform", "channel", "merchant_id", "region", "method", "wallet_app", "code_issuer",
       "amount", "status", "latency_ms"]
CO = ["session_id", "ts", "platform", "merchant_id", "region", "method", "position", "is_default", "folded",
      "surcharge"]


def source(data, name):
    csv = os.path.join(data, f"{name}.csv")
    if os.path.exists(csv):
        return f"read_csv('{csv}', header=true, all_varchar=true, ignore_errors=true)"
    return f"read_parquet('{os.path.join(data, name + '.parquet')}')"


con = duckdb.connect()
data = sys.argv[1]
total = 0
for name, cols in [("transactions", TXN), ("checkout", CO)]:
    counts = ", ".join(f"count({c})" for c in cols)
    total += con.execute(f"SELECT {counts} FROM {source(data, name)}").fetchone()[0]
print(f"scan: {total} rows")
