-- Campaigns (src/campaigns/): a campaign, its contacts with their dial state and outcome, and the
-- do-not-call list checked before every dial.

-- CreateTable
CREATE TABLE "Campaign" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL,
    "agent" TEXT,
    "status" TEXT NOT NULL DEFAULT 'draft',
    "settings" JSONB NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" DATETIME NOT NULL
);

-- CreateTable
CREATE TABLE "CampaignContact" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "campaignId" TEXT NOT NULL,
    "row" INTEGER NOT NULL,
    "phone" TEXT NOT NULL,
    "name" TEXT,
    "timeZone" TEXT,
    "variables" JSONB,
    "state" TEXT NOT NULL DEFAULT 'pending',
    "outcome" TEXT,
    "disposition" TEXT,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "nextAttemptAt" DATETIME,
    "lastDialAt" DATETIME,
    "lastCallId" TEXT,
    "updatedAt" DATETIME NOT NULL,
    CONSTRAINT "CampaignContact_campaignId_fkey" FOREIGN KEY ("campaignId") REFERENCES "Campaign" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);

-- CreateTable
CREATE TABLE "DoNotCall" (
    "phone" TEXT NOT NULL PRIMARY KEY,
    "reason" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- CreateIndex
CREATE INDEX "Campaign_status_idx" ON "Campaign"("status");

-- CreateIndex
CREATE INDEX "CampaignContact_campaignId_state_nextAttemptAt_idx" ON "CampaignContact"("campaignId", "state", "nextAttemptAt");

-- CreateIndex
CREATE INDEX "CampaignContact_lastCallId_idx" ON "CampaignContact"("lastCallId");

-- CreateIndex
CREATE UNIQUE INDEX "CampaignContact_campaignId_row_key" ON "CampaignContact"("campaignId", "row");
