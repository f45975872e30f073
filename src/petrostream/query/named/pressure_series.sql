-- Downsampled pressure vs time for one well: mean/min/max per bucket (--param well_id=...).
-- @param well_id
-- @param bucket_seconds=60
SELECT
  from_unixtime(floor(to_unixtime(ts) / :bucket_seconds) * :bucket_seconds) AS bucket,
  count(*) AS readings,
  avg(p_pdg) AS p_pdg,
  min(p_pdg) AS p_pdg_min,
  max(p_pdg) AS p_pdg_max,
  avg(p_tpt) AS p_tpt
FROM petrostream_db.sensors
WHERE well_id = :well_id
GROUP BY 1
ORDER BY 1
