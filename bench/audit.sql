-- The shipped rulebook (rules/cn-interconnection-2021.toml) written by hand in
-- DuckDB SQL: the peer a data analyst would otherwise use. bench/duckdb_audit.py
-- fills in {txn}, {co} (table functions reading the files) and creates the
-- `aliases(provider, pattern)` and `affiliation(platform, provider)` tables from
-- the rulebook before running this script. Every metric of every rule is
-- computed; the runner compares them with hutong's findings.json.

-- Rows that pass the data contract (the same checks hutong applies).
CREATE TEMP TABLE txn AS
SELECT platform, lower(channel) AS channel, merchant_id, region, method, wallet_app, code_issuer,
       lower(status) AS status, TRY_CAST(latency_ms AS BIGINT) AS latency_ms
FROM {txn}
WHERE txn_id IS NOT NULL AND merchant_id IS NOT NULL AND platform IS NOT NULL AND region IS NOT NULL
  AND method IS NOT NULL
  AND TRY_CAST(ts AS TIMESTAMPTZ) IS NOT NULL
  AND TRY_CAST(amount AS DOUBLE) >= 0
  AND lower(status) IN ('success', 'failed')
  AND lower(channel) IN ('online', 'offline');

CREATE TEMP TABLE co AS
SELECT session_id, platform, merchant_id, method, lower(CAST(folded AS VARCHAR)) IN ('true', '1', 'yes') AS folded,
       coalesce(TRY_CAST(surcharge AS DOUBLE), 0) AS surcharge
FROM {co}
WHERE session_id IS NOT NULL AND merchant_id IS NOT NULL AND platform IS NOT NULL AND method IS NOT NULL
  AND TRY_CAST(position AS BIGINT) >= 1
  AND lower(CAST(is_default AS VARCHAR)) IN ('true', 'false', '1', '0', 'yes', 'no')
  AND lower(CAST(folded AS VARCHAR)) IN ('true', 'false', '1', '0', 'yes', 'no')
  AND TRY_CAST(ts AS TIMESTAMPTZ) IS NOT NULL;

-- Taxonomy: each distinct raw label is matched against the aliases once.
CREATE TEMP TABLE labels AS
SELECT label, min(a.provider) AS provider
FROM (SELECT DISTINCT method AS label FROM txn
      UNION SELECT DISTINCT wallet_app FROM txn
      UNION SELECT DISTINCT code_issuer FROM txn
      UNION SELECT DISTINCT method FROM co) l
LEFT JOIN aliases a ON regexp_matches(l.label, a.pattern, 'i')
WHERE label IS NOT NULL
GROUP BY label;

CREATE TEMP TABLE txx AS
SELECT t.*, m.provider, a.provider AS app, i.provider AS issuer
FROM txn t
LEFT JOIN labels m ON t.method = m.label
LEFT JOIN labels a ON t.wallet_app = a.label
LEFT JOIN labels i ON t.code_issuer = i.label;

CREATE TEMP TABLE cox AS
SELECT c.*, m.provider FROM co c LEFT JOIN labels m ON c.method = m.label;

-- CN-PL-01: share of each platform's merchants that offered UnionPay at least once.
CREATE TEMP TABLE r_pl01 AS
SELECT platform, count(*) AS n, count(*) FILTER (WHERE up) AS offered, count(*) FILTER (WHERE up) / count(*) AS value
FROM (SELECT platform, merchant_id, bool_or(provider = 'unionpay') AS up FROM cox GROUP BY ALL)
GROUP BY platform;

-- CN-PL-02: sessions offering each major rival / sessions offering the platform's own provider.
CREATE TEMP TABLE r_pl02 AS
WITH s AS (SELECT platform, provider, count(DISTINCT session_id) AS sessions FROM cox
           WHERE provider IS NOT NULL GROUP BY ALL)
SELECT r.platform, r.provider, r.sessions / o.sessions AS value
FROM s r JOIN affiliation f ON r.platform = f.platform
JOIN s o ON o.platform = r.platform AND o.provider = f.provider
WHERE r.provider IN ('alipay', 'wechat_pay', 'unionpay') AND r.provider <> f.provider;

-- CN-PL-03: merchants all of whose options map to the platform's own provider
-- (an unmapped label counts as a possible rival).
CREATE TEMP TABLE r_pl03 AS
WITH m AS (SELECT platform, merchant_id, count(DISTINCT coalesce(provider, '?')) AS k,
                  min(coalesce(provider, '?')) AS only FROM cox GROUP BY ALL)
SELECT f.platform, count(*) FILTER (WHERE m.k = 1 AND m.only = f.provider) AS value
FROM affiliation f JOIN m ON m.platform = f.platform
GROUP BY f.platform;

-- CN-ND-01 and CN-ND-04: per platform and provider, visible (not folded) and surcharged options.
CREATE TEMP TABLE presentation AS
SELECT platform, provider, count(*) AS n, count(*) FILTER (WHERE NOT folded) AS visible,
       count(*) FILTER (WHERE surcharge > 0) AS surcharged
FROM cox WHERE provider IS NOT NULL GROUP BY ALL;

-- CN-ND-01: rival visible rate / own visible rate.
CREATE TEMP TABLE r_nd01 AS
SELECT r.platform, r.provider, (r.visible / r.n) / (o.visible / o.n) AS value
FROM presentation r JOIN affiliation f ON r.platform = f.platform
JOIN presentation o ON o.platform = r.platform AND o.provider = f.provider
WHERE r.provider IN ('alipay', 'wechat_pay', 'unionpay') AND r.provider <> f.provider;

-- CN-ND-04: rival surcharge incidence - own surcharge incidence.
CREATE TEMP TABLE r_nd04 AS
SELECT r.platform, r.provider, r.surcharged / r.n - o.surcharged / o.n AS value
FROM presentation r JOIN affiliation f ON r.platform = f.platform
JOIN presentation o ON o.platform = r.platform AND o.provider = f.provider
WHERE r.provider IN ('alipay', 'wechat_pay', 'unionpay') AND r.provider <> f.provider;

-- CN-ND-02 and CN-ND-03: online payments per platform and provider.
CREATE TEMP TABLE outcomes AS
SELECT platform, provider, count(*) AS n, count(*) FILTER (WHERE status = 'failed') AS failed,
       list_sort(list(latency_ms) FILTER (WHERE latency_ms IS NOT NULL)) AS lat
FROM txx WHERE channel = 'online' AND provider IS NOT NULL GROUP BY ALL;

-- CN-ND-02: rival failure rate - own failure rate.
CREATE TEMP TABLE r_nd02 AS
SELECT r.platform, r.provider, r.failed / r.n - o.failed / o.n AS value
FROM outcomes r JOIN affiliation f ON r.platform = f.platform
JOIN outcomes o ON o.platform = r.platform AND o.provider = f.provider
WHERE r.provider IN ('alipay', 'wechat_pay', 'unionpay') AND r.provider <> f.provider;

-- CN-ND-03: rival nearest-rank p95 latency / own p95 latency.
CREATE TEMP TABLE r_nd03 AS
SELECT r.platform, r.provider,
       r.lat[CAST(ceil(0.95 * len(r.lat)) AS BIGINT)] / o.lat[CAST(ceil(0.95 * len(o.lat)) AS BIGINT)] AS value
FROM outcomes r JOIN affiliation f ON r.platform = f.platform
JOIN outcomes o ON o.platform = r.platform AND o.provider = f.provider
WHERE r.provider IN ('alipay', 'wechat_pay', 'unionpay') AND r.provider <> f.provider;

-- CN-IO-01 and CN-IO-02: offline scans per region, scanning app and code issuer.
CREATE TEMP TABLE r_io AS
SELECT region, app, issuer, count(*) AS n, count(*) FILTER (WHERE status = 'success') AS successes
FROM txx WHERE channel = 'offline' AND app IS NOT NULL AND issuer IS NOT NULL GROUP BY ALL;

-- CN-MK-01 and CN-MK-02: shares of successful transactions by channel
-- (online: method's provider; offline: scanning app's provider).
CREATE TEMP TABLE r_mk AS
WITH s AS (SELECT channel,
                  CASE WHEN channel = 'offline' THEN coalesce(app, provider) ELSE provider END AS firm,
                  count(*) AS n
           FROM txx WHERE status = 'success' GROUP BY ALL),
     t AS (SELECT channel, sum(n) AS total FROM s WHERE firm IS NOT NULL GROUP BY channel)
SELECT s.channel, s.firm, s.n / t.total AS share FROM s JOIN t USING (channel) WHERE firm IS NOT NULL;
