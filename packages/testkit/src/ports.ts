/**
 * Ports for a test that needs many fixed ones at once (the stack end-to-end test gives the
 * stack a block of twenty and the stack derives some of its own from them).
 *
 * Kernel-chosen ports (`freePort`, and the local end of every outgoing connection) come from
 * the ephemeral range, so a block chosen there can be taken by any other test between choosing
 * and binding. A block below that range is only ever taken by a process that asks for those
 * numbers, and the block is checked free before it is handed out.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';

const lowest = 20_000;

/** The first port of `size` consecutive free loopback ports, all below the ephemeral range. */
export async function freePortBlock(size: number): Promise<number> {
  const ceiling = ephemeralLow() - size;
  if (ceiling <= lowest) throw new Error(`no room for ${size} ports below the ephemeral range`);
  const blocks = Math.floor((ceiling - lowest) / size);
  for (let tries = 0; tries < 50; tries++) {
    const base = lowest + Math.floor(Math.random() * blocks) * size;
    if (await allFree(base, size)) return base;
  }
  throw new Error(`no free block of ${size} ports between ${lowest} and ${ceiling + size}`);
}

function ephemeralLow(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')
      .trim()
      .split(/\s+/);
    const value = Number(low);
    return Number.isInteger(value) && value > lowest ? value : 32_768;
  } catch {
    return 32_768;
  }
}

async function allFree(base: number, size: number): Promise<boolean> {
  for (let port = base; port < base + size; port++) if (!(await canListen(port))) return false;
  return true;
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
