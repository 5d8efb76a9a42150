// Screenshot of TensorBoard's HParams parallel-coordinates view, for the README.
// Usage: tune-mtl tensorboard results/NAME --port 6123 &
//        NODE_PATH=<dir with playwright-core> node docs/hparams_screenshot.mjs http://127.0.0.1:6123 docs/hparams-parallel-coordinates.png
import { createRequire } from "node:module";
const require = createRequire(process.env.NODE_PATH ? process.env.NODE_PATH + "/" : import.meta.url);
const { chromium } = require("playwright-core");

const [url, output] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"],
});
const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
await page.goto(`${url}/#hparams`, { waitUntil: "networkidle" });
// Test accuracies exist for front members only, and the view drops sessions that lack a shown
// metric: hide them so that every trial is drawn. Show the hyperparameters TensorBoard leaves unticked.
for (const tag of ["item/test_accuracy", "group/test_accuracy"]) {
  await page.getByRole("checkbox", { name: tag }).uncheck();
}
for (const name of ["task2_width", "stopped_early"]) {
  const box = page.getByRole("checkbox", { name, exact: true });
  if (await box.count()) await box.first().check();
}
await page.getByText("Parallel Coordinates View").click();
await page.waitForTimeout(4000);
await page.screenshot({ path: output });
await browser.close();
