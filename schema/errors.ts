import {
  ExtensionRefusedError,
  ImageNotFoundError,
  InvalidStateError,
  LabNotOpenError,
  NameTakenError,
  NoCapacityError,
  NoHostAccountError,
  NotFoundError,
  QuotaExceededError,
  RateLimitedError,
  ValidationError,
} from "../core/index.js";
import { builder } from "./builder.js";

/** Every typed error a mutation can return implements this. */
const ErrorInterface = builder.interfaceRef<Error>("Error").implement({
  fields: (t) => ({ message: t.exposeString("message") }),
});

const FieldErrorRef = builder.objectRef<{ field: string; message: string }>("FieldError").implement({
  description: "One offending input field",
  fields: (t) => ({ field: t.exposeString("field"), message: t.exposeString("message") }),
});

builder.objectType(ValidationError, {
  name: "ValidationError",
  description: "Some input fields are not acceptable; each is named",
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof ValidationError,
  fields: (t) => ({ fields: t.field({ type: [FieldErrorRef], resolve: (e) => e.fields }) }),
});

builder.objectType(QuotaExceededError, {
  name: "QuotaExceededError",
  description: "The request would exceed one of your quotas",
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof QuotaExceededError,
  fields: (t) => ({
    quota: t.exposeString("quota"),
    limit: t.exposeInt("limit"),
    requested: t.exposeInt("requested"),
  }),
});

builder.objectType(ImageNotFoundError, {
  name: "ImageNotFoundError",
  description: "No image has that name",
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof ImageNotFoundError,
  fields: (t) => ({ image: t.exposeString("image") }),
});

builder.objectType(NotFoundError, {
  name: "NotFoundError",
  description: "No such thing, or not yours to see",
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof NotFoundError,
  fields: () => ({}),
});

builder.objectType(NoCapacityError, {
  name: "NoCapacityError",
  description: "No live host has room for the machine now",
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof NoCapacityError,
  fields: (t) => ({ memoryMiB: t.exposeInt("memoryMiB") }),
});

builder.objectType(NameTakenError, {
  name: "NameTakenError",
  description: "You already have a machine with that name",
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof NameTakenError,
  fields: (t) => ({ name: t.exposeString("machineName") }),
});

builder.objectType(NoHostAccountError, {
  name: "NoHostAccountError",
  description: "You have no host account for machines to run as; an admin maps one",
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof NoHostAccountError,
  fields: (t) => ({ user: t.exposeString("user") }),
});

builder.objectType(ExtensionRefusedError, {
  name: "ExtensionRefusedError",
  description: "The extension is more than the machine's lab still allows",
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof ExtensionRefusedError,
  fields: (t) => ({
    maxExtensionSeconds: t.exposeInt("maxExtensionSeconds"),
    extensionLeftSeconds: t.exposeInt("extensionLeftSeconds"),
  }),
});

builder.objectType(LabNotOpenError, {
  name: "LabNotOpenError",
  description: "A scheduled lab does not take machines yet: gaol boots its students' machines before it opens",
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof LabNotOpenError,
  fields: (t) => ({
    opensAt: t.expose("opensAt", { type: "DateTime" }),
    startsMachinesAt: t.expose("startsMachinesAt", { type: "DateTime" }),
  }),
});

builder.objectType(InvalidStateError, {
  name: "InvalidStateError",
  description: "The machine's state does not allow this now",
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof InvalidStateError,
  fields: (t) => ({ state: t.exposeString("state") }),
});

builder.objectType(RateLimitedError, {
  name: "RateLimitedError",
  description: "This token has made too many changes too fast; other tokens are served as usual",
  interfaces: [ErrorInterface],
  isTypeOf: (value) => value instanceof RateLimitedError,
  fields: (t) => ({
    retryAfterSeconds: t.exposeInt("retryAfterSeconds", { description: "When the next change is accepted" }),
  }),
});

/** The typed errors of a mutation that people (not agents) make: its own, and the rate limit. */
export const limited = (...types: ErrorClass[]): ErrorClass[] => [...types, RateLimitedError];
type ErrorClass = new (...args: never[]) => Error;

/** What provisionMachine can return instead of a machine. */
export const MUTATION_ERRORS = limited(
  ValidationError,
  QuotaExceededError,
  ImageNotFoundError,
  NoCapacityError,
  NameTakenError,
  NoHostAccountError,
);
