import Stores from '@/components/Stores';

export default function Page() {
  return <Stores />;
}
