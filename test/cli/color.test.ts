/**
 * Colour only on a terminal: output piped to a file or a PR comment is the same bytes on a CI runner and a laptop.
 */
import { describe, expect, it } from "vitest";
import { colorEnabled } from "../../cli/color";

const tty = { isTTY: true };
const pipe = { isTTY: false };

describe("colorEnabled", () => {
  it("colours a terminal and never a pipe, even when CI is set", () => {
    expect(colorEnabled(tty, {})).toBe(true);
    expect(colorEnabled(pipe, {})).toBe(false);
    expect(colorEnabled(pipe, { CI: "true", TERM: "xterm-256color" })).toBe(false);
  });
  it("honours NO_COLOR, FORCE_COLOR and TERM=dumb", () => {
    expect(colorEnabled(tty, { NO_COLOR: "1" })).toBe(false);
    expect(colorEnabled(pipe, { FORCE_COLOR: "1" })).toBe(true);
    expect(colorEnabled(tty, { FORCE_COLOR: "0" })).toBe(true);
    expect(colorEnabled(pipe, { FORCE_COLOR: "0" })).toBe(false);
    expect(colorEnabled(tty, { TERM: "dumb" })).toBe(false);
  });
});
