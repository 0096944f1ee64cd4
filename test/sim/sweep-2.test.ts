/**
 * Bounded sweep, part 2 of 4: seeds 51..100 of 3-member clusters with every fault
 * (message loss, duplication, delay; symmetric, one-way and leader-isolating partitions; crashes
 * with lost and torn unsynced writes; clock drift; slow disks), each run judged by every checker
 * (see ./sweep.ts).
 */
import { sweep } from './sweep.js';

sweep(51, 50);
