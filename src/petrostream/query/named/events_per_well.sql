-- Events per well: instances and readings of each event type, first and last reading.
SELECT
  well_id,
  event_type,
  count(DISTINCT instance_id) AS instances,
  count(*) AS readings,
  min(ts) AS first_ts,
  max(ts) AS last_ts
FROM petrostream_db.sensors
WHERE event_type IS NOT NULL
GROUP BY well_id, event_type
ORDER BY well_id, event_type
