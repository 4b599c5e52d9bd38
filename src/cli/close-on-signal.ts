// SIGINT/SIGTERM close the server gracefully (it closes its resolver too), then exit.
export function closeOnSignal(server: { close(): Promise<void> }): void {
  const stop = async () => {
    await server.close();
    process.exit(0);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}
