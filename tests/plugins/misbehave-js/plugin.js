//! `misbehave-js`: a hostile JavaScript plugin for the sandbox tests
//! (tests/js_plugins.rs). The event kind picks the misbehaviour; its world
//! (wit/world.wit) imports WASI's environment, filesystem and socket
//! interfaces, which the host links but must leave empty or refuse.

import environment from "wasi:cli/environment@0.2.12";
import preopens from "wasi:filesystem/preopens@0.2.12";
import instanceNetwork from "wasi:sockets/instance-network@0.2.12";
import tcpCreateSocket from "wasi:sockets/tcp-create-socket@0.2.12";
import ipNameLookup from "wasi:sockets/ip-name-lookup@0.2.12";

import { PluginError, customer, definePlugin, sms } from "../../../sdk/js/src/index.js";

/** @param {unknown} e */
const reason = (e) => (e instanceof Error ? e.message : String(e));

export const handler = definePlugin({
  manifest: {
    name: "misbehave-js",
    version: "0.2.0",
    description: "Misbehaves on purpose, by event kind.",
    subscribes: ["test.*"],
  },

  handle(event, context) {
    switch (event.kind) {
      case "test.ok":
        return [sms(customer, `ok ${event.id}`, `ok:${event.id}`)];
      case "test.throw": {
        /** @type {any} */
        const nothing = null;
        return nothing.property;
      }
      case "test.fail":
        throw new PluginError("refused on purpose");
      case "test.loop":
        for (;;) {}
      case "test.alloc": {
        const hoard = [];
        for (;;) hoard.push(new ArrayBuffer(1 << 20));
      }
      case "test.read-file": {
        const dirs = preopens.getDirectories();
        if (dirs.length > 0) {
          return [sms(customer, `preopened: ${dirs.map((entry) => entry[1]).join(", ")}`, "leak")];
        }
        throw new PluginError("no preopened directories");
      }
      case "test.env": {
        const env = environment.getEnvironment();
        const args = environment.getArguments();
        if (env.length > 0 || args.length > 0) {
          return [sms(customer, JSON.stringify({ env, args }), "leak")];
        }
        throw new PluginError("no environment and no arguments");
      }
      case "test.socket": {
        const [host, port] = event.data.split(":");
        try {
          const socket = tcpCreateSocket.createTcpSocket("ipv4");
          const address = host.split(".").map(Number);
          socket.startConnect(instanceNetwork.instanceNetwork(), {
            tag: "ipv4",
            val: { port: Number(port), address: [address[0], address[1], address[2], address[3]] },
          });
          socket.subscribe().block();
          socket.finishConnect();
        } catch (e) {
          throw new PluginError(`cannot connect to ${event.data}: ${reason(e)}`);
        }
        return [sms(customer, `connected to ${event.data}`, "leak")];
      }
      case "test.lookup": {
        try {
          ipNameLookup.resolveAddresses(instanceNetwork.instanceNetwork(), event.data);
        } catch (e) {
          throw new PluginError(`cannot resolve ${event.data}: ${reason(e)}`);
        }
        return [sms(customer, `resolved ${event.data}`, "leak")];
      }
      default:
        throw new PluginError(`misbehave-js does not know ${event.kind} (${context.now})`);
    }
  },
});
