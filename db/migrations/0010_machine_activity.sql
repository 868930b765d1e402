ALTER TABLE "labs" ADD COLUMN "idle_limit_seconds" integer;--> statement-breakpoint
ALTER TABLE "machines" ADD COLUMN "last_activity_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "machines" ADD COLUMN "last_activity_kind" text;