-- Latest reading per well: its time, main pressures and temperature, and event type.
-- --param since=YYYY-MM-DD bounds the scan to partitions from that day on (the
-- dashboard passes the oldest day that can hold a well's latest reading).
-- @param since=1970-01-01
SELECT
  well_id,
  max(ts) AS ts,
  max_by(p_pdg, ts) AS p_pdg,
  max_by(p_tpt, ts) AS p_tpt,
  max_by(t_tpt, ts) AS t_tpt,
  max_by(event_type, ts) AS event_type,
  max_by(instance_id, ts) AS instance_id
FROM petrostream_db.sensors
WHERE dt >= :since
GROUP BY well_id
ORDER BY well_id
