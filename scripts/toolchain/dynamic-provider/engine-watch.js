// Loaded (node --require) into the dynamic-provider process before @pulumi/pulumi's
// cmd/dynamic-provider: the process exits as soon as the engine that started it is gone, so a
// killed CLI never leaves a provider that goes on calling Hostwinds (or spins writing to a closed
// stdout: EPIPE, reported by console.error, EPIPE again...).
//
// How Pulumi's own plugins notice: Go providers poll the engine's gRPC health service every
// 5 minutes and stop when it fails (sdk/go/pulumi/provider/main.go:
// `rpcutil.Healthcheck(ctx, engineAddress, 5*time.Minute, cancel)`); the Node dynamic-provider
// host has no watch at all. Five minutes of a live provider is too long here, so the signal used is
// one the engine gives every plugin: it starts each with a stdin pipe only the engine holds
// (pkg/resource/plugin/plugin.go, `cmd.StdinPipe()`; the other end is close-on-exec, so no other
// process inherits it). End of file on that pipe means the engine process has exited, however it
// died (SIGKILL included), with no polling. Being reparented (the parent pid changes) is the
// fallback for a stdin that is not a pipe.
"use strict";
const fs = require("fs");

function engineGone(why) {
  try {
    fs.writeSync(2, `pulumi-nodejs dynamic provider: the engine is gone (${why}); exiting\n`);
  } catch {
    // stderr went with the engine
  }
  process.exit(1);
}

let stdinIsPipe = false;
try {
  stdinIsPipe = fs.fstatSync(0).isFIFO();
} catch {
  // no stdin at all
}
if (stdinIsPipe) {
  process.stdin.on("end", () => engineGone("its pipe closed"));
  process.stdin.on("error", () => engineGone("its pipe failed"));
  process.stdin.on("data", () => undefined); // the engine never writes; drain if it ever does
}
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) engineGone(`parent ${parent} exited`);
}, 500).unref();
