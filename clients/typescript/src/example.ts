/**
 * A customer's journey through the Storefront API with the generated client, in strict mode:
 * register → log in → who am I → find a product → order it (with an Idempotency-Key) → cancel.
 *
 * Every answer is `{ data, error, response }`: after `if (result.error)` TypeScript knows that
 * `data` is there. Errors are the API's envelope, `{ error: { code, message, details,
 * request_id } }`, typed per route: a `switch` on `code` narrows `details` to what that kind
 * of error carries (`details.errors` on a 422, `details.products` on `INSUFFICIENT_STOCK`).
 *
 * `npm run generate` writes ./client from ../../openapi.json; CI type-checks this file against
 * it (`npm run typecheck`), so a change of the contract that breaks clients fails the build.
 */
import { client } from './client/client.gen';
import {
  authLogin,
  authRegister,
  ordersCancel,
  ordersPlace,
  productsSearch,
  usersReadMe,
} from './client/sdk.gen';
import type { FieldError, OrderRead, ProductRead, TokenPair, UserRead } from './client/types.gen';

/** What every error body of the API has, whatever its kind. */
interface ErrorBody {
  code: string;
  message: string;
  request_id: string | null;
}

export class ApiError extends Error {
  constructor(
    readonly body: ErrorBody,
    readonly status: number,
  ) {
    super(`${status} ${body.code}: ${body.message} (request ${body.request_id ?? '-'})`);
  }
}

function fieldProblems(errors: FieldError[]): string {
  return errors.map((problem) => `${problem.field}: ${problem.message}`).join('; ');
}

export interface JourneyResult {
  user: UserRead;
  product: ProductRead;
  placed: OrderRead;
  replayed: boolean;
  cancelled: OrderRead;
}

export async function journey(
  baseUrl: string,
  email: string,
  password: string,
): Promise<JourneyResult> {
  client.setConfig({ baseUrl });

  // 1. Register. An address that is already registered is fine here: we log in next.
  const registered = await authRegister({ body: { email, password, full_name: 'Ada Lovelace' } });
  if (registered.error) {
    const failure = registered.error;
    switch (failure.error.code) {
      case 'EMAIL_TAKEN':
        break;
      case 'VALIDATION_ERROR':
        throw new Error(`registration refused: ${fieldProblems(failure.error.details.errors)}`);
      default:
        throw new ApiError(failure.error, registered.response.status);
    }
  }

  // 2. Log in. Tokens stay in memory; the client sends the access token to the routes that
  // need one (and only to those: the public catalogue stays cacheable).
  const login = await authLogin({ body: { email, password } });
  if (login.error) {
    throw new ApiError(login.error.error, login.response.status); // 401, 403, 429 ...
  }
  const tokens: TokenPair = login.data;
  client.setConfig({ auth: () => tokens.access_token });

  // 3. Who am I?
  const me = await usersReadMe();
  if (me.error) {
    throw new ApiError(me.error.error, me.response.status);
  }
  const user = me.data;

  // 4. The first product in stock.
  const page = await productsSearch({ query: { in_stock: true, limit: 1 } });
  if (page.error) {
    throw new ApiError(page.error.error, page.response.status);
  }
  const product = page.data.items[0];
  if (product === undefined) {
    throw new Error('nothing is in stock');
  }

  // 5. Order it. One Idempotency-Key per intent: retrying with the same key and body after a
  // timeout or a 5xx returns the order created the first time, never a second one.
  const idempotencyKey = crypto.randomUUID();
  const placed = await ordersPlace({
    body: { items: [{ product_id: product.id, quantity: 1 }] },
    headers: { 'Idempotency-Key': idempotencyKey },
  });
  if (placed.error) {
    const failure = placed.error;
    switch (failure.error.code) {
      case 'INSUFFICIENT_STOCK': {
        const short = failure.error.details.products.map(
          (line) => `${line.product_id}: ${line.available} of ${line.requested}`,
        );
        throw new Error(`not enough stock: ${short.join(', ')}`);
      }
      case 'VALIDATION_ERROR':
      case 'IDEMPOTENCY_KEY_MISMATCH':
        throw new Error(`order refused: ${fieldProblems(failure.error.details.errors)}`);
      case 'IDEMPOTENCY_IN_PROGRESS': // the first attempt is still running: retry, same key
      default:
        throw new ApiError(failure.error, placed.response.status);
    }
  }
  const order: OrderRead = placed.data;
  const replayed = placed.response.headers.get('Idempotent-Replayed') === 'true';

  // 6. Cancel it: the stock goes back.
  const cancelled = await ordersCancel({ path: { order_id: order.id } });
  if (cancelled.error) {
    const failure = cancelled.error;
    if (failure.error.code === 'INVALID_TRANSITION') {
      const { from, to } = failure.error.details;
      throw new Error(`cannot cancel: the order went from ${from}, not to ${to}`);
    }
    throw new ApiError(failure.error, cancelled.response.status);
  }
  return { user, product, placed: order, replayed, cancelled: cancelled.data };
}
