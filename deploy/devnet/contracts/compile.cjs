// Compiles a solc standard-JSON input read from stdin with solc-js; prints the standard-JSON output.
// Invoked by x402fac.devnet.evm at devnet start-up (artifacts are cached by source hash there).
"use strict";
const solc = require("solc");

const chunks = [];
process.stdin.on("data", (chunk) => chunks.push(chunk));
process.stdin.on("end", () => {
  const input = Buffer.concat(chunks).toString("utf8");
  const output = JSON.parse(solc.compile(input));
  output.solcVersion = solc.version();
  process.stdout.write(JSON.stringify(output));
});
