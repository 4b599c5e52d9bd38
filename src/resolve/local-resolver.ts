// One local directory served as the container namespace/pod/container
// (default local/local/local): the embedded demo and the fastest way to try podfiles.
import { invalidArgument, notFound } from "../errors.js";
import type { ContainerFs } from "../fs/container-fs.js";
import { RootFs } from "../fs/root/root-fs.js";
import { formatName, type ContainerFilter, type ContainerListing, type ContainerName, type Resolver } from "./resolver.js";

export interface LocalResolverOptions {
  /** Directory to serve as the container's root. */
  root: string;
  /** The name it answers to; default local/local/local. */
  name?: ContainerName;
}

export class LocalResolver implements Resolver {
  readonly name: ContainerName;
  readonly fs: RootFs;

  constructor(options: LocalResolverOptions) {
    this.name = options.name ?? { namespace: "local", pod: "local", container: "local" };
    this.fs = new RootFs({ root: options.root, description: `local:${options.root}` });
  }

  async resolve(name: ContainerName): Promise<ContainerFs> {
    if (!name.namespace || !name.pod) throw invalidArgument("container.namespace and container.pod are required");
    const matches = name.namespace === this.name.namespace && name.pod === this.name.pod && (name.container === "" || name.container === this.name.container);
    if (!matches) throw notFound(`container ${formatName(name)} not found (this server serves ${formatName(this.name)})`);
    return this.fs;
  }

  /** The one container served. */
  async *listContainers(filter: ContainerFilter): AsyncGenerator<ContainerListing[]> {
    if (filter.namespace && filter.namespace !== this.name.namespace) return;
    yield [{ ...this.name, node: "", running: true, defaultContainer: true, image: "" }];
  }

  async close(): Promise<void> {
    await this.fs.close();
  }
}
