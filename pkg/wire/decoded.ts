import type protobuf from 'protobufjs';

/**
 * The one place a protobufjs decode result gets its TypeScript type; every wire decoder in pkg/ goes through it.
 *
 * Why the cast is sound: protobufjs builds its types at run time from the .proto files, so the most it can tell
 * TypeScript is `Message<{}>` (Type.decode) or `{ [k: string]: any }` (Type.toObject). The values themselves have
 * exactly the .proto message's fields under protobufjs's names (camelCase): decode() sets each field present in
 * the bytes and leaves absent scalars to their defaults on the message prototype, repeated fields are arrays, and
 * toObject() copies the same fields under the caller's conversion options. The interface named as T restates that
 * shape. Use it only on a value straight out of decode()/toObject() of the message T describes, with T's optional
 * fields matching what those options can leave out.
 */
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- a typed cast, see above
export function decodedAs<T extends object>(decoded: protobuf.Message | Record<string, unknown>): T {
  return decoded as T;
}
