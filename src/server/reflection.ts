// grpc.reflection v1 and v1alpha on Connect, so grpcurl and buf curl work with
// no .proto files at hand. Answers from the descriptors embedded in gen/.
import { create, createRegistry, toBinary, type DescFile, type DescService } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import type { ConnectRouter } from "@connectrpc/connect";
import * as v1 from "../../gen/ts/third_party/grpc/reflection/v1/reflection_pb.js";
import * as v1alpha from "../../gen/ts/third_party/grpc/reflection/v1alpha/reflection_pb.js";

/** Each file once, dependencies first. */
function withDependencies(files: DescFile[]): DescFile[] {
  const seen = new Map<string, DescFile>();
  const visit = (f: DescFile) => {
    if (seen.has(f.name)) return;
    f.dependencies.forEach(visit);
    seen.set(f.name, f);
  };
  files.forEach(visit);
  return [...seen.values()];
}

interface Answer {
  fileDescriptorResponse?: { fileDescriptorProto: Uint8Array[] };
  listServicesResponse?: { service: { name: string }[] };
  errorResponse?: { errorCode: number; errorMessage: string };
}

const NOT_FOUND = 5;

export class ReflectionIndex {
  private readonly files: DescFile[];
  private readonly registry;
  private readonly byName: Map<string, DescFile>;

  constructor(private readonly services: DescService[]) {
    this.files = withDependencies(services.map((s) => s.file));
    this.registry = createRegistry(...this.files);
    this.byName = new Map(this.files.map((f) => [f.proto.name, f]));
  }

  /** The file that defines `file` and all it imports, serialized. */
  private fileSet(file: DescFile): Answer {
    return { fileDescriptorResponse: { fileDescriptorProto: withDependencies([file]).map((f) => toBinary(FileDescriptorProtoSchema, f.proto)) } };
  }

  private fileContainingSymbol(symbol: string): DescFile | undefined {
    const direct = this.registry.get(symbol);
    if (direct) return direct.file;
    // A method name: pkg.Service.Method
    const owner = this.registry.getService(symbol.slice(0, symbol.lastIndexOf(".")));
    return owner?.methods.some((m) => `${owner.typeName}.${m.name}` === symbol) ? owner.file : undefined;
  }

  answer(req: { messageRequest: { case: string | undefined; value?: unknown } }): Answer {
    const { case: kind, value } = req.messageRequest;
    const notFound = (what: string): Answer => ({ errorResponse: { errorCode: NOT_FOUND, errorMessage: `${what} not found` } });
    switch (kind) {
      case "listServices":
        return { listServicesResponse: { service: this.services.map((s) => ({ name: s.typeName })) } };
      case "fileByFilename": {
        const file = this.byName.get(value as string);
        return file ? this.fileSet(file) : notFound(`file ${value}`);
      }
      case "fileContainingSymbol": {
        const file = this.fileContainingSymbol(value as string);
        return file ? this.fileSet(file) : notFound(`symbol ${value}`);
      }
      case "fileContainingExtension":
        return notFound("extension");
      case "allExtensionNumbersOfType": {
        const type = this.registry.getMessage(value as string);
        return type ? ({ allExtensionNumbersResponse: { baseTypeName: type.typeName, extensionNumber: [] } } as Answer) : notFound(`type ${value}`);
      }
      default:
        return { errorResponse: { errorCode: 3, errorMessage: "unknown reflection request" } };
    }
  }
}

/** Registers ServerReflection v1 and v1alpha for the given services (plus the reflection services themselves). */
export function registerReflection(router: ConnectRouter, services: DescService[]): void {
  const index = new ReflectionIndex([...services, v1.ServerReflection, v1alpha.ServerReflection]);
  const respond = (request: { host: string; messageRequest: { case: string | undefined; value?: unknown } }) => {
    const answer = index.answer(request);
    const [kase] = Object.keys(answer) as (keyof Answer)[];
    return { validHost: request.host, originalRequest: request, messageResponse: { case: kase, value: answer[kase] } };
  };
  router.service(v1.ServerReflection, {
    async *serverReflectionInfo(requests) {
      for await (const req of requests) yield create(v1.ServerReflectionResponseSchema, respond(req) as never);
    },
  });
  router.service(v1alpha.ServerReflection, {
    async *serverReflectionInfo(requests) {
      for await (const req of requests) yield create(v1alpha.ServerReflectionResponseSchema, respond(req) as never);
    },
  });
}
