-- The shipped rulebook (rules/cn-interconnection-2021.toml) written by hand in
-- DuckDB SQL: the peer a data analyst would otherwise use. bench/duckdb_audit.py
-- fills in {txn}, {co} (table functions reading the files) and creates the
-- `aliases(provider, pattern)` and `affiliation(platform, provider)` tables from
-- the rulebook before running this script, and `nontechnical(code)`: the
-- normalised failure codes the rulebook classes as not technical. Every metric
-- of every rule is computed; the runner compares them with hutong's findings.json.

-- Rows that pass the data contract (the same checks hutong applies).
CREATE TEMP TABLE txn AS
SELECT platform, lower(channel) AS channel, merchant_id, region, method, wallet_app, code_issuer,
       lower(status) AS status, TRY_CAST(latency_ms AS BIGINT) AS latency_ms,
       trim(regexp_replace(lower(failure_code), '[ _.\-]+', ' ', 'g')) AS failure_code
FROM {txn}
WHERE txn_id IS NOT NULL AND merchant_id IS NOT NULL AND platform IS NOT NULL AND region IS NOT NULL
  AND method IS NOT NULL
  AND TRY_CAST(ts AS TIMESTAMPTZ) IS NOT NULL
  AND TRY_CAST(amount AS DOUBLE) >= 0
  AND lower(status) IN ('success', 'failed')
  AND lower(channel) IN ('online', 'offline');

CREATE TEMP TABLE co AS
SELECT session_id, platform, merchant_id, method, lower(CAST(folded AS VARCHAR)) IN ('true', '1', 'yes') AS folded,
       coalesce(TRY_CAST(surcharge AS DOUBLE), 0) AS surcharge,
       coalesce(TRY_CAST(discount AS DOUBLE), 0) AS discount, lower(discount_funder) AS discount_funder
FROM {co}
WHERE session_id IS NOT NULL AND merchant_id IS NOT NULL AND platform IS NOT NULL AND method IS NOT NULL
  AND TRY_CAST(position AS BIGINT) >= 1
  AND lower(CAST(is_default AS VARCHAR)) IN ('true', 'false', '1', '0', 'yes', 'no')
  AND lower(CAST(folded AS VARCHAR)) IN ('true', 'false', '1', '0', 'yes', 'no')
  AND TRY_CAST(ts AS TIMESTAMPTZ) IS NOT NULL;

-- Taxonomy: each distinct raw label, normalised (lower case, separators folded),
-- is matched against the aliases once. (The sample's labels match one provider
-- each, so the precedence rules for ties are not needed here.)
CREATE TEMP TABLE labels AS
SELECT label, min(a.provider) AS provider
FROM (SELECT DISTINCT method AS label FROM txn
      UNION SELECT DISTINCT wallet_app FROM txn
      UNION SELECT DISTINCT code_issuer FROM txn
      UNION SELECT DISTINCT method FROM co) l
LEFT JOIN aliases a ON regexp_matches(trim(regexp_replace(lower(l.label), '[ _.\-]+', ' ', 'g')), a.pattern, 'i')
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

-- CN-PL-03: merchants with at least 5 sessions all of whose options map to the
-- platform's own provider (an unmapped label counts as a possible rival).
CREATE TEMP TABLE r_pl03 AS
WITH m AS (SELECT platform, merchant_id, count(DISTINCT coalesce(provider, '?')) AS k,
                  min(coalesce(provider, '?')) AS only, count(DISTINCT session_id) AS sessions FROM cox GROUP BY ALL)
SELECT f.platform, count(*) FILTER (WHERE m.k = 1 AND m.only = f.provider AND m.sessions >= 5) AS value
FROM affiliation f JOIN m ON m.platform = f.platform
GROUP BY f.platform;

-- CN-ND-01, CN-ND-04, CN-ND-05: per session and provider, whether the option was
-- visible, surcharged, or carried a platform-funded discount; compared within the
-- sessions that offered both a rival and the platform's own provider.
CREATE TEMP TABLE per_session AS
SELECT platform, session_id, provider, bool_or(NOT folded) AS visible, bool_or(surcharge > 0) AS surcharged,
       bool_or(discount > 0 AND discount_funder = 'platform') AS platform_discount
FROM cox WHERE provider IS NOT NULL GROUP BY ALL;

CREATE TEMP TABLE shared AS
SELECT r.platform, r.provider, count(*) AS n,
       count(*) FILTER (WHERE r.visible) AS r_visible, count(*) FILTER (WHERE o.visible) AS o_visible,
       count(*) FILTER (WHERE r.surcharged) AS r_surcharged, count(*) FILTER (WHERE o.surcharged) AS o_surcharged,
       count(*) FILTER (WHERE r.platform_discount) AS r_discount, count(*) FILTER (WHERE o.platform_discount) AS o_discount
FROM per_session r JOIN affiliation f ON r.platform = f.platform
JOIN per_session o ON o.platform = r.platform AND o.session_id = r.session_id AND o.provider = f.provider
WHERE r.provider IN ('alipay', 'wechat_pay', 'unionpay') AND r.provider <> f.provider
GROUP BY ALL;

-- CN-ND-01: rival visible rate / own visible rate, in shared sessions.
CREATE TEMP TABLE r_nd01 AS SELECT platform, provider, r_visible / o_visible AS value FROM shared;

-- CN-ND-04: rival surcharge incidence - own surcharge incidence, in shared sessions.
CREATE TEMP TABLE r_nd04 AS SELECT platform, provider, (r_surcharged - o_surcharged) / n AS value FROM shared;

-- CN-ND-05: rival platform-funded discount incidence - own, in shared sessions.
CREATE TEMP TABLE r_nd05 AS SELECT platform, provider, (r_discount - o_discount) / n AS value FROM shared;

-- CN-ND-02 and CN-ND-03: online payments per platform and provider; technical
-- failures are those whose code the rulebook does not class otherwise; latency
-- is of successful payments.
CREATE TEMP TABLE outcomes AS
SELECT platform, provider, count(*) AS n,
       count(*) FILTER (WHERE status = 'failed'
                        AND (failure_code IS NULL OR failure_code NOT IN (SELECT code FROM nontechnical))) AS failed,
       list_sort(list(latency_ms) FILTER (WHERE latency_ms IS NOT NULL AND status = 'success')) AS lat
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
-- (online: method's provider; offline: scanning app's provider); unmapped
-- labels stay in the denominator.
CREATE TEMP TABLE r_mk AS
WITH s AS (SELECT channel,
                  CASE WHEN channel = 'offline' THEN coalesce(app, provider) ELSE provider END AS firm,
                  count(*) AS n
           FROM txx WHERE status = 'success' GROUP BY ALL),
     t AS (SELECT channel, sum(n) AS total FROM s GROUP BY channel)
SELECT s.channel, s.firm, s.n / t.total AS share FROM s JOIN t USING (channel) WHERE firm IS NOT NULL;
