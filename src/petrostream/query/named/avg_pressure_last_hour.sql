-- Average pressure per event type over the last hour (p_pdg downhole gauge, p_tpt at the TPT).
-- The seed's question. "Last hour" is relative to now(): replay stamps readings
-- with the current time, so a live or just-replayed lake answers it. Widen the
-- window with --param hours=N. The dt predicate lets the engines skip older
-- partitions (Hive pruning); unlabelled readings (event_type NULL) are left out.
-- @param hours=1
SELECT
  event_type,
  count(*) AS readings,
  avg(p_pdg) AS avg_p_pdg,
  avg(p_tpt) AS avg_p_tpt
FROM petrostream_db.sensors
WHERE ts >= current_timestamp - :hours * INTERVAL '1' HOUR
  AND dt >= date_format(current_timestamp - :hours * INTERVAL '1' HOUR, '%Y-%m-%d')
  AND event_type IS NOT NULL
GROUP BY event_type
ORDER BY event_type
