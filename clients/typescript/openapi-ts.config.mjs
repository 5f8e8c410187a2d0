// @hey-api/openapi-ts: the client is generated from the committed contract, never from a
// running server, so that CI checks exactly the document under review.
/** @type {import('@hey-api/openapi-ts').UserConfig} */
export default {
  input: '../../openapi.json',
  output: 'src/client',
  plugins: ['@hey-api/client-fetch', '@hey-api/typescript', '@hey-api/sdk'],
};
