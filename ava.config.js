// TSIX_BUILD_DIR lets several developers compile into their own directories at once.
const dir = process.env.TSIX_BUILD_DIR ?? 'dist';
export default {
  files: [`${dir}/test/**/*.test.js`],
  timeout: '5m',
  concurrency: 2,
  workerThreads: false,
  verbose: true,
};
