-- Orders found by the number people quote (`#A1B2C3D4`: the id's last eight hex digits),
-- without a scan of every order. `orders::list` repeats this expression exactly.
CREATE INDEX orders_number ON orders ((right(id::text, 8)));
