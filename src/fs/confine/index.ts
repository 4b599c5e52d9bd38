export { ConfinedRoot, type ConfinedRootOptions, type OpenedParent, type Strategy } from "./confined-root.js";
export { PathError, type PathErrorCode, type ConfineSystemError } from "./errors.js";
