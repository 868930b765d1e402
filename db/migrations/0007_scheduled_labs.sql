ALTER TABLE "labs" ADD COLUMN "opens_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "labs" ADD COLUMN "prestart_seconds" integer DEFAULT 120 NOT NULL;--> statement-breakpoint
ALTER TABLE "labs" ADD COLUMN "prestarted_at" timestamp with time zone;