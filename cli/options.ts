/** Options shared by the commands, so each spells and documents them the same way. */
import { type Command, Option } from "commander";
import { EXIT_CODES_HELP } from "./exitCodes";

/** `--stack`, `--no-color` and the exit codes at the end of `--help`: every command that reads a stack file. */
export function stackOptions(command: Command): Command {
  return command
    .option("--stack <name>", "the stack's name (label rocm-vllm.stack); default: <stack> of Pulumi.<stack>.yaml")
    .option("--no-color", "never colour the output (also: NO_COLOR=1; FORCE_COLOR=1 colours a pipe)")
    .addHelpText("after", EXIT_CODES_HELP);
}

/** `--hf-token`: what script users say instead of `pulumi config set --secret hfToken`. */
export function hfTokenOption(): Option {
  return new Option(
    "--hf-token",
    "the deployments need a Hugging Face token (gated models): plan as if rocm-vllm:hfToken were set; the exported scripts then require HF_TOKEN in deploy.sh's environment",
  );
}

/** `--api-key` (no value): what script users say instead of `pulumi config set --secret apiKey`. */
export function apiKeyOption(): Option {
  return new Option(
    "--api-key",
    "the API requires a key: plan as if rocm-vllm:apiKey were set; the exported scripts then require VLLM_API_KEY in deploy.sh's environment (never give the key itself on a command line)",
  );
}
