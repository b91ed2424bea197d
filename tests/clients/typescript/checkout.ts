// A guest's checkout across two vendors and the guest's order lookup, through openapi-fetch with
// the types openapi-typescript generates from Souk's OpenAPI document (no hand-written HTTP).
//
// scripts/clients-test generates schema.d.ts, type-checks (strict, library types included),
// compiles and runs it: node dist/checkout.js BASE_URL (a Souk started with `serve --demo`).
// Prints one summary line; any failed expectation throws (exit status 1).
import { randomUUID } from "node:crypto";
import createClient from "openapi-fetch";
import type { components, paths } from "./schema.js";

type Schemas = components["schemas"];

const baseUrl = process.argv[2];
if (baseUrl === undefined) {
  console.error("usage: node dist/checkout.js BASE_URL");
  process.exit(2);
}
const client = createClient<paths>({ baseUrl });

function check(condition: boolean, message: string): asserts condition {
  if (!condition) throw new Error(message);
}

// What openapi-fetch resolves to: `data` for a 2xx, `error` (the parsed problem+json) otherwise.
interface Outcome<D, E> {
  data?: D;
  error?: E;
  response: Response;
}

/** The body of an expected success, after checking its status. */
async function expectOk<D, E>(what: string, status: number, call: Promise<Outcome<D, E>>): Promise<D> {
  const { data, error, response } = await call;
  if (response.status !== status || data === undefined) {
    throw new Error(`${what}: expected ${status}, got ${response.status}: ${JSON.stringify(error ?? data)}`);
  }
  return data;
}

/** The problem of an expected refusal, after checking its status. */
async function expectProblem<D, E extends Schemas["Problem"]>(
  what: string,
  status: number,
  call: Promise<Outcome<D, E>>,
): Promise<Schemas["Problem"]> {
  const { data, error, response } = await call;
  if (response.status !== status || error === undefined) {
    throw new Error(`${what}: expected ${status}, got ${response.status}: ${JSON.stringify(data ?? error)}`);
  }
  return error;
}

const money = (m: Schemas["MoneyBody"]): string => `${m.amount} ${m.currency} minor units`;

// 1. The catalog: one in-stock variant from each of two vendors.
const picks = new Map<string, { product: Schemas["ProductBody"]; variant: Schemas["VariantBody"] }>();
let cursor: string | undefined;
do {
  const page = await expectOk(
    "list products",
    200,
    client.GET("/api/store/products", {
      params: { query: { limit: 100, in_stock: true, ...(cursor === undefined ? {} : { cursor }) } },
    }),
  );
  for (const product of page.items) {
    const variant = product.variants.find((v) => v.available);
    if (variant !== undefined && !picks.has(product.vendor.id)) picks.set(product.vendor.id, { product, variant });
    if (picks.size === 2) break;
  }
  cursor = page.next_cursor ?? undefined;
} while (picks.size < 2 && cursor !== undefined);
check(picks.size === 2, `the catalog has in-stock products from ${picks.size} vendor(s), need 2`);
const vendorIds = [...picks.keys()].sort();
const vendorNames = [...picks.values()].map((p) => p.product.vendor.name).sort();

// 2. A guest cart with both variants.
let cart = await expectOk("create cart", 201, client.POST("/api/store/carts"));
check(cart.status === "open", `a new cart is open, got ${cart.status}`);
const cartId = cart.id;
for (const { product, variant } of picks.values()) {
  cart = await expectOk(
    `add ${product.handle}`,
    201,
    client.POST("/api/store/carts/{id}/items", {
      params: { path: { id: cartId } },
      body: { variant_id: variant.id, quantity: 1 },
    }),
  );
}
check(cart.lines.length === 2, `the cart has 2 lines, got ${cart.lines.length}`);

// 3. Email and shipping address (decides tax).
const email = `guest-${randomUUID().slice(0, 12)}@clients.test`;
const address: Schemas["AddressBody"] = {
  name: "Grace Hopper",
  line1: "1 Infinite Loop",
  city: "Cupertino",
  region: "CA",
  postal_code: "95014",
  country: "US",
};
cart = await expectOk(
  "set email and address",
  200,
  client.PATCH("/api/store/carts/{id}", {
    params: { path: { id: cartId } },
    body: { email, shipping_address: address },
  }),
);
check(cart.email === email, "the cart keeps the email");

// 4. Shipping: each vendor's options; choose the cheapest where a vendor has any (none: free).
const options = await expectOk(
  "shipping options",
  200,
  client.GET("/api/store/carts/{id}/shipping-options", { params: { path: { id: cartId } } }),
);
check(
  JSON.stringify(options.vendors.map((v) => v.vendor_id).sort()) === JSON.stringify(vendorIds),
  "shipping options are listed for exactly the cart's two vendors",
);
let chosen = 0;
for (const vendor of options.vendors) {
  const cheapest = [...vendor.options].sort((a, b) => a.price.amount - b.price.amount)[0];
  if (cheapest === undefined) continue;
  cart = await expectOk(
    `choose shipping for ${vendor.vendor_name}`,
    200,
    client.PUT("/api/store/carts/{id}/shipping", {
      params: { path: { id: cartId } },
      body: { option_id: cheapest.id },
    }),
  );
  chosen += 1;
}

// 5. The cart as the shopper sees it before paying.
cart = await expectOk("get cart", 200, client.GET("/api/store/carts/{id}", { params: { path: { id: cartId } } }));
check(cart.purchasable, "every line can be bought");
check(cart.vendors.length === 2, `the cart spans 2 vendors, got ${cart.vendors.length}`);

// 6. Checkout as a guest, manual payment, with an Idempotency-Key.
const key = randomUUID();
const checkout = () =>
  client.POST("/api/store/carts/{id}/checkout", {
    params: { path: { id: cartId }, header: { "Idempotency-Key": key } },
    body: { email, shipping_address: address, payment_method: "manual" },
  });
const order = await expectOk("checkout", 201, checkout());
check(order.status === "pending_payment", `a manual order awaits payment, got ${order.status}`);
check(order.vendor_orders.length === 2, `one vendor order per vendor: got ${order.vendor_orders.length}`);
check(
  JSON.stringify(order.vendor_orders.map((v) => v.vendor_id).sort()) === JSON.stringify(vendorIds),
  "the vendor orders belong to the two vendors",
);
check(
  order.total.amount === cart.total.amount && order.total.currency === cart.total.currency,
  `the order's total ${money(order.total)} is the cart's ${money(cart.total)}`,
);
const token = order.access_token;
check(typeof token === "string" && token !== "", "the checkout response carries an access_token");

// The same key and body again: the same order and token, not a second order.
const replay = await expectOk("checkout replay", 201, checkout());
check(replay.id === order.id && replay.access_token === token, "a retry with the same key replays the order");

// 7. The guest's lookup: with the token it is the same order; without (or a wrong one), refused.
const seen = await expectOk(
  "lookup with token",
  200,
  client.GET("/api/store/orders/{id}", { params: { path: { id: order.id }, header: { "X-Order-Token": token } } }),
);
check(
  seen.id === order.id &&
    seen.number === order.number &&
    seen.total.amount === order.total.amount &&
    seen.total.currency === order.total.currency,
  "the lookup shows the same order, number and total",
);
check(seen.status === "pending_payment", `the lookup's status is pending_payment, got ${seen.status}`);
check(!seen.access_token, "the token is only in the checkout response");
const withoutToken = await expectProblem(
  "lookup without token",
  404,
  client.GET("/api/store/orders/{id}", { params: { path: { id: order.id } } }),
);
check(withoutToken.code === "not_found", `lookup without token: code not_found, got ${withoutToken.code}`);
const wrongToken = await expectProblem(
  "lookup with a wrong token",
  404,
  client.GET("/api/store/orders/{id}", {
    params: { path: { id: order.id }, header: { "X-Order-Token": "souk_o_wrong" } },
  }),
);
check(wrongToken.code === "not_found", `lookup with a wrong token: code not_found, got ${wrongToken.code}`);

const shipping = chosen > 0 ? `${chosen} chosen` : "free (no options)";
console.log(
  `typescript client: guest order ${order.number} (${order.id}) across ${vendorNames.join(" + ")}: ` +
    `2 vendor orders, ${order.status}, total ${money(order.total)} = cart total, shipping ${shipping}; ` +
    `lookup with token ok, without/wrong token 404 not_found`,
);
