// Runs the seed's client functions against a payoutd server and prints one JSON line per step.
// Usage: node runner.mjs <base_url> <username> <password> <step>...
// Steps: safe:<id> batch:<id>,<id>,... verify:<id> handle:<id> handle-bad-token:<id>
//        emergency:<client_id> confirm:<id> duplicate:<reference>,<id>
// Console output of the seed functions is captured per step (stdout carries only the results).
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { installGlue, loadSeedFunctions } from './glue.mjs';

const [baseUrl, username, password, ...steps] = process.argv.slice(2);
const here = dirname(fileURLToPath(import.meta.url));

let logs = [];
for (const level of ['log', 'warn', 'error']) {
  console[level] = (...args) => {
    logs.push(`${level}: ${args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ')}`);
  };
}
const print = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);

await installGlue(baseUrl, username, password);
loadSeedFunctions(join(here, 'seed_functions.js'));

for (const step of steps) {
  const colon = step.indexOf(':');
  const name = step.slice(0, colon);
  const argument = step.slice(colon + 1);
  logs = [];
  let result;
  try {
    switch (name) {
      case 'safe': result = await safeCancelPayout(argument); break;
      case 'batch': result = await cancelMultiplePayouts(argument.split(',')); break;
      case 'verify': result = await verifyCancellationRefund(argument); break;
      case 'handle': result = await handleCancellation(argument); break;
      case 'handle-bad-token': {
        const saved = getAccessToken();
        setAccessToken('notAValidToken0000000000000000000000000000000000');
        try { result = await handleCancellation(argument); } finally { setAccessToken(saved); }
        break;
      }
      case 'emergency': result = await emergencyCancel(argument); break;
      case 'confirm':
        result = { payout: await cancelPayoutWithConfirmation(argument), dialogs: confirmDialogs,
                   notifications };
        break;
      case 'duplicate': {
        const [reference, id] = argument.split(',');
        result = await handleDuplicatePayout(reference, id);
        break;
      }
      default: throw new Error(`unknown step ${name}`);
    }
    print({ step: name, argument, ok: true, result: result ?? null, logs });
  } catch (error) {
    print({ step: name, argument, ok: false, error: error.message, logs });
  }
}
