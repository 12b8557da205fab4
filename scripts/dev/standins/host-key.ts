/**
 * The SSH-host stand-in's host key. ssh2's `utils.generateKeyPairSync("ed25519")` returns, about
 * once in 256 keys, a pair its own `parseKey` refuses ("Malformed OpenSSH private key"): its
 * keygen strips every leading zero byte of the public key, which is 32 bytes whatever its first
 * byte (mscdex/ssh2 issues 1390 and 1513, open). A stand-in holding such a key cannot serve any
 * host: CI once waited 30 minutes for a server that never became ACTIVE. So a key is kept only
 * once ssh2 parses both halves of it.
 */
import { utils } from "ssh2";

export interface KeyPair {
  private: string;
  public: string;
}

/** An ed25519 key pair both of whose halves ssh2 parses; `generate` is a seam for tests. */
export function parsableHostKey(generate: () => KeyPair = () => utils.generateKeyPairSync("ed25519"), tries = 32): KeyPair {
  for (let i = 0; i < tries; i++) {
    const pair = generate();
    if (!(utils.parseKey(pair.private) instanceof Error) && !(utils.parseKey(pair.public) instanceof Error)) return pair;
  }
  throw new Error(`ssh host stand-in: no ed25519 host key ssh2 can parse in ${tries} tries`);
}
