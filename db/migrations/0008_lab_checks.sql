CREATE TYPE "public"."lab_check_state" AS ENUM('PENDING', 'PASSED', 'FAILED', 'ERROR');--> statement-breakpoint
CREATE TABLE "lab_check_results" (
	"check_id" uuid NOT NULL,
	"machine_id" uuid NOT NULL,
	"state" "lab_check_state" DEFAULT 'PENDING' NOT NULL,
	"exit_code" integer,
	"output" text,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "lab_checks" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"lab_id" uuid NOT NULL,
	"script" text NOT NULL,
	"timeout_seconds" integer NOT NULL,
	"requested_by" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "labs" ADD COLUMN "check_script" text;--> statement-breakpoint
ALTER TABLE "labs" ADD COLUMN "check_timeout_seconds" integer DEFAULT 30 NOT NULL;--> statement-breakpoint
ALTER TABLE "lab_check_results" ADD CONSTRAINT "lab_check_results_check_id_lab_checks_id_fk" FOREIGN KEY ("check_id") REFERENCES "public"."lab_checks"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "lab_check_results" ADD CONSTRAINT "lab_check_results_machine_id_machines_id_fk" FOREIGN KEY ("machine_id") REFERENCES "public"."machines"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "lab_checks" ADD CONSTRAINT "lab_checks_lab_id_labs_id_fk" FOREIGN KEY ("lab_id") REFERENCES "public"."labs"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "lab_check_results_key" ON "lab_check_results" USING btree ("check_id","machine_id");--> statement-breakpoint
CREATE INDEX "lab_check_results_pending" ON "lab_check_results" USING btree ("machine_id","state");--> statement-breakpoint
CREATE INDEX "lab_checks_lab" ON "lab_checks" USING btree ("lab_id","created_at");