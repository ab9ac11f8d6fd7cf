/**
 * The ceiling: a Fastify route on podindex's lookup path that answers a constant body (the JSON in
 * BENCH_CONSTANT_BODY, the answer podindex gave in the same run), serialised per request as
 * podindex's routes are. Started by bench/main.ts as a child process.
 */
import Fastify from "fastify";
import type { AddressInfo } from "node:net";
import { serveBench } from "./child";

const body: unknown = JSON.parse(process.env.BENCH_CONSTANT_BODY ?? "{}");
const app = Fastify({ logger: false });
app.get("/readyz", async () => ({ status: "ready" }));
app.get("/v1/pods/by-ip/:ip", async () => body);
app.listen({ port: 0, host: "127.0.0.1" }).then(
  () => serveBench((app.server.address() as AddressInfo).port),
  err => {
    console.error(err);
    process.exit(1);
  },
);
