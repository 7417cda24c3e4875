// The @x402/evm client (as published, with a viem account) paying one x402 resource: GET, read the 402
// offer, create the payment with x402HTTPClient, GET again with PAYMENT-SIGNATURE. Prints one JSON
// line: {status, body, paymentResponse, accepted}. Fed to `node --input-type=module` on stdin from
// bench/ (tests/e2e/test_permit2_ts_e2e.py), so its imports resolve in bench/node_modules.
// env: URL, PRIVATE_KEY, NETWORK, ASSET (allowed up to MAX_AMOUNT atomic units: not a default asset),
// SCHEME (`exact`, the default, or `upto`: the UptoEvmScheme client, registered for the network).
import { x402Client, x402HTTPClient } from "@x402/core/client";
import { registerExactEvmScheme } from "@x402/evm/exact/client";
import { UptoEvmScheme } from "@x402/evm/upto/client";
import { privateKeyToAccount } from "viem/accounts";

const { URL: url, PRIVATE_KEY: key, NETWORK: network, ASSET: asset, MAX_AMOUNT: maxAmount } = process.env;
const client = new x402Client();
if (process.env.SCHEME === "upto") {
  client.register(network, new UptoEvmScheme(privateKeyToAccount(key)));
} else {
  registerExactEvmScheme(client, { signer: privateKeyToAccount(key), networks: [network] });
}
client.setSpendControls({ allowedAssets: [{ network, asset, maxAmountPerPayment: maxAmount }] });
const http = new x402HTTPClient(client);

const unpaid = await fetch(url);
if (unpaid.status !== 402) throw new Error(`expected 402, got ${unpaid.status}`);
const required = http.getPaymentRequiredResponse((name) => unpaid.headers.get(name), await unpaid.json().catch(() => undefined));
const payment = await http.createPaymentPayload(required);
const paid = await fetch(url, { headers: http.encodePaymentSignatureHeader(payment) });
const body = await paid.text();
const paymentResponse = paid.headers.get("PAYMENT-RESPONSE") ? http.getPaymentSettleResponse((name) => paid.headers.get(name)) : null;
console.log(JSON.stringify({ status: paid.status, body, paymentResponse, accepted: payment.accepted }));
