DROP INDEX movements_unlocks;
