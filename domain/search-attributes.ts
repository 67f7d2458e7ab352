// Lifeboat's custom search attributes, so the Web UI and `temporal workflow list -q` can filter runs.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const searchAttributeDefinitions = {
  LifeboatTarget: 'Keyword',
  LifeboatTrigger: 'Keyword',
  LifeboatStatus: 'Keyword',
} as const;

export const targetAttribute = defineSearchAttributeKey('LifeboatTarget', SearchAttributeType.KEYWORD);
export const triggerAttribute = defineSearchAttributeKey('LifeboatTrigger', SearchAttributeType.KEYWORD);
export const statusAttribute = defineSearchAttributeKey('LifeboatStatus', SearchAttributeType.KEYWORD);
