-- A movement's event per row again (000012_events).
DROP TRIGGER events_movements ON movements;
DROP FUNCTION vl_events_movements();
CREATE TRIGGER events_movement AFTER INSERT ON movements FOR EACH ROW EXECUTE FUNCTION vl_events_movement();
