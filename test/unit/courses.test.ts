import { describe, expect, it } from "vitest";
import {
  checkCourseBudget,
  expiringMessage,
  leaseDue,
  QuotaExceededError,
  validateLab,
  warningsPassed,
} from "../../core/index.js";

const ends = new Date("2026-12-03T10:00:00Z");
const secondsBeforeEnd = (seconds: number) => new Date(ends.getTime() - seconds * 1000);
const lease = (sent: number) => ({ expiresAt: ends, warnAtSeconds: [120, 600], sent });

describe("leaseDue", () => {
  it("says nothing before the first warning, then each warning once, largest first", () => {
    expect(leaseDue(lease(0), secondsBeforeEnd(601))).toEqual({ warnings: [], sentAfter: 0, expired: false });
    expect(leaseDue(lease(0), secondsBeforeEnd(600))).toEqual({ warnings: [600], sentAfter: 1, expired: false });
    expect(leaseDue(lease(1), secondsBeforeEnd(300))).toEqual({ warnings: [], sentAfter: 1, expired: false });
    expect(leaseDue(lease(1), secondsBeforeEnd(120))).toEqual({ warnings: [120], sentAfter: 2, expired: false });
    expect(leaseDue(lease(2), secondsBeforeEnd(0))).toEqual({ warnings: [], sentAfter: 2, expired: true });
  });

  it("sends only the closest of warnings that came due together, not a burst of stale ones", () => {
    expect(leaseDue(lease(0), secondsBeforeEnd(60))).toEqual({ warnings: [120], sentAfter: 2, expired: false });
    expect(leaseDue(lease(0), secondsBeforeEnd(-1))).toEqual({ warnings: [120], sentAfter: 2, expired: true });
  });

  it("counts after an extension the warnings already behind the new end", () => {
    expect(warningsPassed([600, 120], 900)).toBe(0);
    expect(warningsPassed([600, 120], 300)).toBe(1);
    expect(warningsPassed([600, 120], 60)).toBe(2);
  });
});

describe("expiringMessage", () => {
  it("says when, that the home is kept, and whether it can be extended", () => {
    expect(expiringMessage(600, 900)).toBe(
      "this lab machine is destroyed in 10 minutes (your home directory is kept); gaol extend can add up to 15 minutes more",
    );
    expect(expiringMessage(45, 0)).toMatch(/in 45 seconds .*cannot be extended further$/);
  });
});

describe("checkCourseBudget", () => {
  const none = { machines: 0, memoryMiB: 0 };
  const course = { maxMachines: 2, maxMemoryMiB: 1024, studentMaxMachines: 2 };

  it("names the budget a new lab machine would break", () => {
    const at = (used: Partial<Record<"course" | "student" | "lab", typeof none>>, memoryMiB = 256) => {
      try {
        checkCourseBudget(
          course,
          { machinesPerStudent: 1 },
          { course: none, student: none, lab: none, ...used },
          memoryMiB,
        );
        return "ok";
      } catch (error) {
        expect(error).toBeInstanceOf(QuotaExceededError);
        return (error as QuotaExceededError).quota;
      }
    };
    expect(at({})).toBe("ok");
    expect(at({ lab: { machines: 1, memoryMiB: 256 } })).toBe("lab.machinesPerStudent");
    expect(at({ student: { machines: 2, memoryMiB: 512 } })).toBe("course.studentMachines");
    expect(at({ course: { machines: 2, memoryMiB: 512 } })).toBe("course.machines");
    expect(at({ course: { machines: 1, memoryMiB: 900 } })).toBe("course.memoryMiB");
    expect(at({}, 2048)).toBe("course.memoryMiB");
  });

  it("leaves out budgets a course does not set", () => {
    const open = { maxMachines: null, maxMemoryMiB: null, studentMaxMachines: null };
    const many = { machines: 500, memoryMiB: 500_000 };
    expect(() =>
      checkCourseBudget(open, { machinesPerStudent: 1 }, { course: many, student: many, lab: none }, 512),
    ).not.toThrow();
  });
});

describe("validateLab", () => {
  it("drops default warnings a short lab cannot hold, and refuses ones past its end", () => {
    expect(validateLab({ name: "quick", timeLimitSeconds: 300 }).warnAtSeconds).toEqual([120]);
    expect(() => validateLab({ name: "quick", timeLimitSeconds: 300, warnAtSeconds: [300] })).toThrow(/warnAtSeconds/);
  });
});
