-- Alerts per well per day: distinct alerts and alert records (openings and closings).
SELECT
  well_id,
  dt AS day,
  count(DISTINCT alert_id) AS alerts,
  count(*) AS alert_records
FROM petrostream_db.alerts
GROUP BY well_id, dt
ORDER BY day, well_id
