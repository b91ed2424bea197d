-- Orders found by the number people quote (`#A1B2C3D4`: the id's last four bytes), without a
-- scan of every order. `orders::list` repeats this expression exactly.
CREATE INDEX orders_number ON orders (substr(id, 13, 4));
