CREATE TYPE "public"."course_role" AS ENUM('INSTRUCTOR', 'TA', 'STUDENT');--> statement-breakpoint
CREATE TABLE "course_members" (
	"course_id" uuid NOT NULL,
	"user_id" uuid NOT NULL,
	"role" "course_role" DEFAULT 'STUDENT' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "courses" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"title" text,
	"max_machines" integer,
	"max_memory_mib" integer,
	"student_max_machines" integer,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "courses_name_unique" UNIQUE("name")
);
--> statement-breakpoint
CREATE TABLE "labs" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"course_id" uuid NOT NULL,
	"name" text NOT NULL,
	"image_id" uuid NOT NULL,
	"image_version" integer,
	"memory_mib" integer NOT NULL,
	"time_limit_seconds" integer NOT NULL,
	"max_extension_seconds" integer DEFAULT 0 NOT NULL,
	"warn_at_seconds" jsonb DEFAULT '[600,120]'::jsonb NOT NULL,
	"machines_per_student" integer DEFAULT 1 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "machines" ADD COLUMN "lab_id" uuid;--> statement-breakpoint
ALTER TABLE "machines" ADD COLUMN "course_id" uuid;--> statement-breakpoint
ALTER TABLE "machines" ADD COLUMN "expires_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "machines" ADD COLUMN "extended_seconds" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "machines" ADD COLUMN "lease_warnings_sent" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "users" ADD COLUMN "enrolled_via" uuid;--> statement-breakpoint
ALTER TABLE "course_members" ADD CONSTRAINT "course_members_course_id_courses_id_fk" FOREIGN KEY ("course_id") REFERENCES "public"."courses"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "course_members" ADD CONSTRAINT "course_members_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "labs" ADD CONSTRAINT "labs_course_id_courses_id_fk" FOREIGN KEY ("course_id") REFERENCES "public"."courses"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "labs" ADD CONSTRAINT "labs_image_id_images_id_fk" FOREIGN KEY ("image_id") REFERENCES "public"."images"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "course_members_key" ON "course_members" USING btree ("course_id","user_id");--> statement-breakpoint
CREATE INDEX "course_members_user" ON "course_members" USING btree ("user_id");--> statement-breakpoint
CREATE UNIQUE INDEX "labs_course_name" ON "labs" USING btree ("course_id","name");--> statement-breakpoint
ALTER TABLE "machines" ADD CONSTRAINT "machines_lab_id_labs_id_fk" FOREIGN KEY ("lab_id") REFERENCES "public"."labs"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "machines" ADD CONSTRAINT "machines_course_id_courses_id_fk" FOREIGN KEY ("course_id") REFERENCES "public"."courses"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "users" ADD CONSTRAINT "users_enrolled_via_courses_id_fk" FOREIGN KEY ("enrolled_via") REFERENCES "public"."courses"("id") ON DELETE set null ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "machines_course" ON "machines" USING btree ("course_id");--> statement-breakpoint
CREATE INDEX "machines_expires" ON "machines" USING btree ("expires_at") WHERE "machines"."expires_at" is not null;