// The TypeScript reference: @x402/core's x402Facilitator with @x402/evm's exact scheme and a viem
// wallet client, wired as coinbase/x402 examples/typescript/facilitator does, behind a bare node:http
// server (no framework, so the SDK is what is measured).
//
// FAMILY=solana: @x402/svm's exact scheme instead, with a @solana/kit key pair signer
// (toFacilitatorSvmSigner) and one @solana/kit RPC client for the network, as its docs show.
//
// env: PORT, RPC_URL, PRIVATE_KEY (EVM hex; Solana: the base58 64-byte key pair), NETWORK
// (eip155:84532), POLLING_INTERVAL_MS (EVM receipt polling, set to the Python SDK's 100 ms),
// NONCE_MANAGER=1 to give the EVM account viem's nonceManager, FAMILY (evm | solana).
// Prints `ts reference listening on <url>` when ready.
import http from "node:http";
import { x402Facilitator } from "@x402/core/facilitator";
import { toFacilitatorEvmSigner } from "@x402/evm";
import { registerExactEvmScheme } from "@x402/evm/exact/facilitator";
import { createWalletClient, http as viemHttp, publicActions } from "viem";
import { nonceManager, privateKeyToAccount } from "viem/accounts";
import { baseSepolia } from "viem/chains";

const port = Number(process.env.PORT ?? "4022");
const network = process.env.NETWORK ?? "eip155:84532";
const facilitator = new x402Facilitator();

if (process.env.FAMILY === "solana") {
  // Loaded only here: the EVM reference must not pay for @solana/kit.
  const { createKeyPairSignerFromBytes, createSolanaRpc, devnet, getBase58Encoder } = await import("@solana/kit");
  const { toFacilitatorSvmSigner } = await import("@x402/svm");
  const { registerExactSvmScheme } = await import("@x402/svm/exact/facilitator");
  const keyPair = await createKeyPairSignerFromBytes(getBase58Encoder().encode(process.env.PRIVATE_KEY));
  const rpc = createSolanaRpc(devnet(process.env.RPC_URL));
  registerExactSvmScheme(facilitator, { signer: toFacilitatorSvmSigner(keyPair, { [network]: rpc }), networks: network });
} else {
  const account = privateKeyToAccount(
    process.env.PRIVATE_KEY,
    process.env.NONCE_MANAGER === "1" ? { nonceManager } : {},
  );
  const viemClient = createWalletClient({
    account,
    chain: baseSepolia,
    transport: viemHttp(process.env.RPC_URL),
    pollingInterval: Number(process.env.POLLING_INTERVAL_MS ?? "100"),
  }).extend(publicActions);

  const evmSigner = toFacilitatorEvmSigner({
    address: account.address,
    getCode: (args) => viemClient.getCode(args),
    readContract: (args) => viemClient.readContract({ ...args, args: args.args || [] }),
    verifyTypedData: (args) => viemClient.verifyTypedData(args),
    writeContract: (args) => viemClient.writeContract({ ...args, args: args.args || [] }),
    sendTransaction: (args) => viemClient.sendTransaction(args),
    waitForTransactionReceipt: (args) => viemClient.waitForTransactionReceipt(args),
  });
  registerExactEvmScheme(facilitator, { signer: evmSigner, networks: network });
}

function answer(res, status, body) {
  const data = JSON.stringify(body, (_, value) => (typeof value === "bigint" ? value.toString() : value));
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(data) });
  res.end(data);
}

async function handle(req, res, body) {
  if (req.method === "GET" && req.url === "/supported") {
    return answer(res, 200, facilitator.getSupported());
  }
  if (req.method !== "POST" || (req.url !== "/verify" && req.url !== "/settle")) {
    return answer(res, 404, { error: "not_found" });
  }
  let paymentPayload, paymentRequirements;
  try {
    ({ paymentPayload, paymentRequirements } = JSON.parse(body));
  } catch (error) {
    return answer(res, 400, { error: "invalid_request", message: String(error) });
  }
  if (!paymentPayload || !paymentRequirements) {
    return answer(res, 400, { error: "Missing paymentPayload or paymentRequirements" });
  }
  try {
    const result =
      req.url === "/verify"
        ? await facilitator.verify(paymentPayload, paymentRequirements)
        : await facilitator.settle(paymentPayload, paymentRequirements);
    return answer(res, 200, result);
  } catch (error) {
    if (req.url === "/settle" && error instanceof Error && error.message.includes("Settlement aborted:")) {
      return answer(res, 200, {
        success: false,
        errorReason: error.message.replace("Settlement aborted: ", ""),
        transaction: "",
        network: paymentPayload?.accepted?.network ?? "unknown",
      });
    }
    return answer(res, 500, { error: error instanceof Error ? error.message : "Unknown error" });
  }
}

const server = http.createServer({ noDelay: true, keepAliveTimeout: 600_000 }, (req, res) => {
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => {
    handle(req, res, Buffer.concat(chunks).toString()).catch((error) =>
      answer(res, 500, { error: String(error) }),
    );
  });
});
server.headersTimeout = 0;
server.requestTimeout = 0;
server.listen(port, "127.0.0.1", () => {
  console.log(`ts reference listening on http://127.0.0.1:${port}`);
});
process.on("SIGTERM", () => process.exit(0));
