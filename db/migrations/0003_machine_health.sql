CREATE TYPE "public"."machine_health" AS ENUM('HEALTHY', 'UNRESPONSIVE');--> statement-breakpoint
ALTER TABLE "machines" ADD COLUMN "health" "machine_health" DEFAULT 'HEALTHY' NOT NULL;--> statement-breakpoint
ALTER TABLE "machines" ADD COLUMN "health_since" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "machines" ADD COLUMN "health_reason" text;