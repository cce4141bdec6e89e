DROP TRIGGER events_user ON users;
DROP TRIGGER events_installment ON installments;
DROP TRIGGER events_refund ON refunds;
DROP TRIGGER events_schedule ON installments;
DROP TRIGGER events_purchase_void ON purchases;
DROP TRIGGER events_purchase_hold ON purchases;
DROP TRIGGER events_limit ON limit_history;
DROP TRIGGER events_movement ON movements;
DROP FUNCTION vl_events_user(), vl_events_installment(), vl_events_refund(), vl_events_schedule(),
    vl_events_purchase(), vl_events_limit(), vl_events_movement();
DROP FUNCTION vl_event_purchase(text);
DROP FUNCTION vl_emit(text, text, text, text);
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
DROP TABLE events;
DROP TABLE event_streams;
