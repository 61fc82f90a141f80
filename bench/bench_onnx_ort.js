// onnxruntime (npm onnxruntime-node) on the same model and inputs as bench_onnx.py: final output only.
//   NODE_PATH=DIR/node_modules node bench/bench_onnx_ort.js MODEL.onnx X.npy BATCH BATCHES THREADS
// Prints: wall seconds for BATCHES batches after one warm-up batch, CPU seconds, peak RSS (KB).
const fs = require('fs');
const ort = require('onnxruntime-node');

function readNpy(path) { // float32, C order, little endian: enough for the files bench_onnx.py writes
  const buf = fs.readFileSync(path);
  const hlen = buf.readUInt16LE(8);
  const header = buf.toString('latin1', 10, 10 + hlen);
  const shape = header.match(/'shape': \(([^)]*)\)/)[1].split(',').filter(s => s.trim()).map(Number);
  const data = new Float32Array(buf.buffer.slice(buf.byteOffset + 10 + hlen, buf.byteOffset + buf.length));
  return {shape, data};
}

(async () => {
  const [model, xpath, batch, batches, threads] = process.argv.slice(2);
  const b = Number(batch), nb = Number(batches);
  const x = readNpy(xpath);
  const per = x.shape.slice(1).reduce((a, c) => a * c, 1);
  const s = await ort.InferenceSession.create(model, {intraOpNumThreads: Number(threads), interOpNumThreads: 1,
                                                     executionMode: 'sequential'});
  const feed = (i) => ({[s.inputNames[0]]: new ort.Tensor('float32', x.data.subarray(i * b * per, (i + 1) * b * per),
                                                         [b, ...x.shape.slice(1)])});
  await s.run(feed(0));
  const t0 = process.hrtime.bigint(), c0 = process.cpuUsage();
  for (let i = 1; i <= nb; i++) await s.run(feed(i));
  const wall = Number(process.hrtime.bigint() - t0) / 1e9, c = process.cpuUsage(c0);
  console.log(wall, (c.user + c.system) / 1e6, process.resourceUsage().maxRSS);
})();
