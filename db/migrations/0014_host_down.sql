ALTER TYPE "public"."machine_state" ADD VALUE 'LOST';--> statement-breakpoint
ALTER TABLE "hosts" ADD COLUMN "down_since" timestamp with time zone;