// The startup floor of bench/worker_bench.mjs: a worker with nothing to load.
export default {
  fetch() {
    return new Response('ok');
  },
};
