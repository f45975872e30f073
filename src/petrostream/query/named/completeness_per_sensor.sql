-- Data completeness per well and sensor: share of readings where the sensor has a value.
-- Covers the sensors 3W 1.x and 2.x files share, so it runs on any lake.
WITH counts AS (
  SELECT
    well_id,
    count(*) AS readings,
    count(p_pdg) AS p_pdg,
    count(p_tpt) AS p_tpt,
    count(t_tpt) AS t_tpt,
    count(p_mon_ckp) AS p_mon_ckp,
    count(t_jus_ckp) AS t_jus_ckp,
    count(p_jus_ckgl) AS p_jus_ckgl,
    count(qgl) AS qgl
  FROM petrostream_db.sensors
  GROUP BY well_id
), sensors AS (
  SELECT well_id, 'p_pdg' AS sensor, p_pdg AS present, readings FROM counts
  UNION ALL SELECT well_id, 'p_tpt', p_tpt, readings FROM counts
  UNION ALL SELECT well_id, 't_tpt', t_tpt, readings FROM counts
  UNION ALL SELECT well_id, 'p_mon_ckp', p_mon_ckp, readings FROM counts
  UNION ALL SELECT well_id, 't_jus_ckp', t_jus_ckp, readings FROM counts
  UNION ALL SELECT well_id, 'p_jus_ckgl', p_jus_ckgl, readings FROM counts
  UNION ALL SELECT well_id, 'qgl', qgl, readings FROM counts
)
SELECT
  well_id,
  sensor,
  present,
  readings,
  CAST(present AS double) / readings AS completeness
FROM sensors
ORDER BY well_id, sensor
